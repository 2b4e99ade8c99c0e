package fs

import (
	"errors"
	"syscall"
)

// IsNoSpace reports whether err says that a file system is full: ENOSPC,
// or EDQUOT (the user's disk quota is used up) where the system has it.
// Callers stop writing there instead of failing file after file.
func IsNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || isQuota(err))
}
