//go:build !unix

package engine

import (
	"testing"
	"time"
)

func processCPU() (time.Duration, bool) { return 0, false }

func reportCPU(*testing.B, time.Duration) {}
