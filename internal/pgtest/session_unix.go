//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// newSession starts cmd in a session of its own, so that the signals sent to
// the test's process group (Ctrl-C, a timeout) do not reach it.
func newSession(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
