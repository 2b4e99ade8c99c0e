package fs

import (
	"errors"
	"syscall"
)

// IsNoSpace reports whether err says that a file system is full: ENOSPC,
// EDQUOT (the user's disk quota is used up) where the system has it, and
// Windows' disk-full codes.
// Callers stop writing there instead of failing file after file.
func IsNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || isFull(err))
}

// IsReadOnly reports whether err says that a file system is mounted
// read-only (EROFS; Windows: a write-protected medium).
func IsReadOnly(err error) bool {
	return err != nil && (errors.Is(err, syscall.EROFS) || isWriteProtected(err))
}
