//go:build !unix

package pgtest

import "os/exec"

// newSession: no sessions outside Unix (nor the sh and pg_ctl the guard
// runs); the package's servers are started on Unix only.
func newSession(cmd *exec.Cmd) {}
