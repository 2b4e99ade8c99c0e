// Package proc starts external commands (dump commands, password commands,
// docker) so that cancelling the context really ends them.
//
// exec.CommandContext kills only the direct child: with `sh -c "pg_dump ..."`
// the grandchild survives, keeps the stdout pipe open, and Wait blocks until
// it exits on its own. Command runs the child in its own process group,
// kills the whole group on cancellation and bounds the wait for the pipes.
package proc

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// WaitDelay bounds how long Wait waits for the pipes after cancellation.
const WaitDelay = 5 * time.Second

// Command is exec.CommandContext with process-group cancellation.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		// Negative pid: the whole process group.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = WaitDelay
	return cmd
}
