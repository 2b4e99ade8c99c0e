//go:build unix

package fs

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Source paths of any length. The kernel refuses a path of PATH_MAX (4096)
// bytes or more in one call (ENAMETOOLONG), yet a directory tree may be
// deeper than that. A longer path is opened the way restore resolves its
// target (restore_unix.go): directory by directory relative to descriptors,
// each piece below maxResolve bytes (openat on the previous piece's
// descriptor). Shorter paths, nearly all, take the single call as before.

// openLong is openat(AT_FDCWD, p, flags, mode) for a p of any length.
// The directories between pieces are opened without following a symlink
// at the piece's end (dirOpenFlags): below the backup's own paths the walk
// only ever descends into directories it lstat'ed.
func openLong(p string, flags int, mode uint32) (int, error) {
	if len(p) <= maxResolve {
		return openRetry(unix.AT_FDCWD, p, flags, mode)
	}
	dfd, owned := unix.AT_FDCWD, false
	defer func() {
		if owned {
			unix.Close(dfd)
		}
	}()
	for len(p) > maxResolve {
		i := strings.LastIndexByte(p[:maxResolve], '/')
		if i <= 0 {
			return -1, unix.ENAMETOOLONG
		}
		nfd, err := openRetry(dfd, p[:i], dirOpenFlags, 0)
		if err != nil {
			return -1, err
		}
		if owned {
			unix.Close(dfd)
		}
		dfd, owned, p = nfd, true, p[i+1:]
	}
	return openRetry(dfd, p, flags, mode)
}

// withParent calls fn with a descriptor of p's directory and p's last
// component (AT_FDCWD and p itself when p is short enough for one call).
func withParent(p string, fn func(dirfd int, name string) error) error {
	if len(p) <= maxResolve {
		return fn(unix.AT_FDCWD, p)
	}
	dir, name := filepath.Split(p)
	dfd, err := openLong(strings.TrimSuffix(dir, "/"), dirOpenFlags, 0)
	if err != nil {
		return &pathError{"open", dir, err}
	}
	defer unix.Close(dfd)
	return fn(dfd, name)
}

// ReadlinkLong is os.Readlink for a p of any length.
func ReadlinkLong(p string) (string, error) {
	if len(p) <= maxResolve {
		return os.Readlink(p)
	}
	var target string
	err := withParent(p, func(dfd int, name string) error {
		for size := 256; ; size *= 2 {
			buf := make([]byte, size)
			n, err := unix.Readlinkat(dfd, name, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return &pathError{"readlink", p, err}
			}
			if n < size {
				target = string(buf[:n])
				return nil
			}
		}
	})
	return target, err
}

// OpenLongFile opens p (any length) for reading as an *os.File.
func OpenLongFile(p string) (*os.File, error) {
	fd, err := openLong(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &pathError{"open", p, err}
	}
	return os.NewFile(uintptr(fd), p), nil
}
