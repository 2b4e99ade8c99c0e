//go:build linux || darwin || freebsd

package fs

import (
	"errors"
	"syscall"
)

// isFull reports whether err is one of this system's "file system full"
// errors beside ENOSPC: EDQUOT, the user's disk quota used up.
func isFull(err error) bool { return errors.Is(err, syscall.EDQUOT) }

// isWriteProtected: EROFS is the only such error here (IsReadOnly).
func isWriteProtected(error) bool { return false }
