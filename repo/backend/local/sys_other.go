//go:build !linux

package local

import (
	"errors"
	"os"
	"syscall"
)

var errNoRenameat2 = errors.New("renameat2 RENAME_NOREPLACE not supported")

// errQuota: no portable EDQUOT; ENOSPC alone is mapped.
var errQuota error = syscall.ENOSPC

// renameNoReplace always defers to the link(2)+unlink(2) fallback.
func renameNoReplace(from, to string) error { return errNoRenameat2 }

func preallocate(f *os.File, n int64) error { return nil }

func ignoreDirSyncErr(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported)
}
