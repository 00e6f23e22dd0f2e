package ui

import (
	"fmt"
	"strconv"
)

// ByteSize formats a size the way people read them: 512 B, 23.4 KiB,
// 4.0 GiB (binary units, one decimal).
func ByteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
