//go:build unix

package fs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenExistingTargetRoot opens the restore target p for reading only (a
// restore's dry run, its verification): unlike OpenTargetRoot it creates
// nothing. A missing p is an error wrapping os.ErrNotExist.
func OpenExistingTargetRoot(p string) (*TargetRoot, error) {
	fd, err := openRetry(unix.AT_FDCWD, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("open %s: %w", p, os.ErrNotExist)
		}
		return nil, &pathError{"open", p, err}
	}
	t := &TargetRoot{FD: fd, path: p}
	t.beneath = probeBeneath(fd)
	return t, nil
}

// Names lists the entries of directory d of the target (unsorted), read
// through a descriptor of its own opened from d: nothing is followed.
func (t *TargetRoot) Names(d TargetDir) ([]string, error) {
	fd, err := openRetry(d, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("list directory: %w", err)
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list directory: %w", err)
	}
	return names, nil
}
