//go:build !unix

package proc

import "os/exec"

// setGroupCancel: no process groups here. Cancellation kills the direct
// child (exec.CommandContext's default Cancel); a grandchild may outlive it,
// and Command's WaitDelay bounds how long Wait waits for the pipes it holds.
func setGroupCancel(cmd *exec.Cmd) {}
