//go:build unix

package ops

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
)

// RequireMount fails with ErrWrongMount unless dir lies on the file system
// mounted at mountPoint, and mountPoint is a mount point (so an unmounted USB
// disk, whose mount point is then a plain directory of the root file system,
// is refused).
func RequireMount(dir, mountPoint string) error {
	var st, mt, pt syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return fmt.Errorf("repository %s: %w", dir, err)
	}
	mp := filepath.Clean(mountPoint)
	if err := syscall.Stat(mp, &mt); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrWrongMount, mp, err)
	}
	if mp != "/" {
		if err := syscall.Stat(filepath.Dir(mp), &pt); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrWrongMount, mp, err)
		}
		if pt.Dev == mt.Dev && pt.Ino != mt.Ino {
			return fmt.Errorf("%w: %s is not a mount point (is the disk mounted?)", ErrWrongMount, mp)
		}
	}
	if st.Dev != mt.Dev {
		return fmt.Errorf("%w: %s is not on the file system mounted at %s", ErrWrongMount, dir, mp)
	}
	return nil
}

// RequireUUID fails with ErrWrongMount unless dir lies on the block device
// whose file system UUID is uuid (looked up in byUUID, normally
// /dev/disk/by-uuid).
func RequireUUID(dir, uuid, byUUID string) error {
	if byUUID == "" {
		byUUID = "/dev/disk/by-uuid"
	}
	var st, dt syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return fmt.Errorf("repository %s: %w", dir, err)
	}
	dev := filepath.Join(byUUID, uuid)
	if strings.ContainsRune(uuid, '/') || syscall.Stat(dev, &dt) != nil {
		return fmt.Errorf("%w: no file system with UUID %s is attached (%s missing)", ErrWrongMount, uuid, dev)
	}
	if uint64(dt.Rdev) != uint64(st.Dev) {
		return fmt.Errorf("%w: %s is not on the file system with UUID %s (is the disk mounted?)", ErrWrongMount, dir, uuid)
	}
	return nil
}

// FreeSpace returns the bytes available to unprivileged users at dir.
func FreeSpace(dir string) (uint64, error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return uint64(s.Bavail) * uint64(s.Bsize), nil
}

// SizeKnown reports whether the file system holding dir reports a size:
// ramfs and some FUSE file systems report zero blocks, and so zero free,
// although writes succeed; a free-space check cannot judge them.
func SizeKnown(dir string) bool {
	var s syscall.Statfs_t
	return syscall.Statfs(dir, &s) == nil && s.Blocks > 0
}

// lockDir takes an exclusive flock(2) on directory dir (the metrics file's
// folder: no lock file is left beside the textfiles) until unlock is
// called, so that writers of one metrics file, in this or another process,
// read, merge and replace it one at a time. A folder that cannot be opened
// or locked is not locked (the write then may race, as before).
func lockDir(dir string) (unlock func()) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return func() {}
	}
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return func() {}
	}
	return func() { syscall.Close(fd) } // closing the last descriptor releases the lock
}
