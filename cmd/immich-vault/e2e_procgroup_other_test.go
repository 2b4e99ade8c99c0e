//go:build !unix

package main_test

import "os/exec"

// ownProcessGroup does nothing here: there are no process groups to kill
// (docs/PLATFORMS.md: only the direct child is killed).
func ownProcessGroup(cmd *exec.Cmd) {}

// killProcessGroup kills cmd's process only (its children may outlive it).
func killProcessGroup(cmd *exec.Cmd) {
	cmd.Process.Kill()
}
