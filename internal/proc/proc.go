// Package proc starts external commands (dump commands, password commands,
// docker) so that cancelling the context really ends them.
//
// exec.CommandContext kills only the direct child: with `sh -c "pg_dump ..."`
// the grandchild survives, keeps the stdout pipe open, and Wait blocks until
// it exits on its own. Command runs the child in its own process group,
// kills the whole group on cancellation and bounds the wait for the pipes.
//
// Process groups are a Unix notion (proc_unix.go). Elsewhere (Windows,
// proc_other.go) cancellation kills the direct child only, as
// exec.CommandContext does, and WaitDelay still bounds the wait for pipes a
// surviving grandchild holds open (see docs/PLATFORMS.md).
package proc

import (
	"context"
	"os/exec"
	"time"
)

// WaitDelay bounds how long Wait waits for the pipes after cancellation.
const WaitDelay = 5 * time.Second

// Command is exec.CommandContext with process-group cancellation.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	setGroupCancel(cmd)
	cmd.WaitDelay = WaitDelay
	return cmd
}
