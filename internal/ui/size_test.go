package ui

import (
	"math"
	"testing"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{-1, "-1 B"},
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{23962, "23.4 KiB"},
		{1<<20 - 1, "1024.0 KiB"},
		{4 << 30, "4.0 GiB"},
		{5<<30 + 1<<29, "5.5 GiB"},
		{math.MaxInt64, "8.0 EiB"},
	}
	for _, tt := range tests {
		if got := ByteSize(tt.n); got != tt.want {
			t.Errorf("ByteSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
