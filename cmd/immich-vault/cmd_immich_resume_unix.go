//go:build !windows && !plan9 && !js && !wasip1

package main

import "syscall"

// ownProcessGroup puts a child in its own process group, out of reach of
// the terminal's Ctrl-C.
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
