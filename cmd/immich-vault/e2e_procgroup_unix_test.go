//go:build unix

package main_test

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup makes cmd, once started, lead a process group of its own,
// so that killProcessGroup reaches its children too.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup SIGKILLs the process group of cmd (started after
// ownProcessGroup).
func killProcessGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
