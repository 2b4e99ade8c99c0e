//go:build windows || plan9 || js || wasip1

package main

import "syscall"

func ownProcessGroup() *syscall.SysProcAttr { return nil }
