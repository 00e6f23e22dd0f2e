//go:build !unix

package testrun

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
