//go:build linux

package local

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// errNoRenameat2 marks "this filesystem/kernel cannot do RENAME_NOREPLACE".
var errNoRenameat2 = errors.New("renameat2 RENAME_NOREPLACE not supported")

// errQuota is the "disk quota exceeded" errno, treated like ENOSPC.
var errQuota error = syscall.EDQUOT

// renameNoReplace renames from to to atomically, failing with EEXIST (which
// matches fs.ErrExist) if to exists. It returns errNoRenameat2 when the
// kernel or filesystem does not support the flag (EINVAL, ENOSYS,
// EOPNOTSUPP), so that the caller falls back to link(2).
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errNoRenameat2
	}
	return &os.LinkError{Op: "renameat2", Old: from, New: to, Err: err}
}

// preallocate reserves n bytes for f so that a full disk is detected before
// writing. Filesystems without fallocate support are not an error.
func preallocate(f *os.File, n int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
			return nil
		}
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
}

// ignoreDirSyncErr reports errors of fsync on a directory that mean "not
// supported here" (some network and FUSE filesystems); they are ignored.
func ignoreDirSyncErr(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)
}
