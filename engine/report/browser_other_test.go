//go:build unix && !linux

package report_test

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
