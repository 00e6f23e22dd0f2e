//go:build unix

package report_test

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts the browser in a new process group, keeping the
// parent-death signal chromedp sets on Linux.
func ownProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
}

// killProcessGroup kills every process left in the group the browser
// (pid) leads.
func killProcessGroup(pid int) {
	syscall.Kill(-pid, syscall.SIGKILL)
}
