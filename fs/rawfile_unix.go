//go:build unix

package fs

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// openNonblock is or'ed into the flags of a source file's open: opening a
// FIFO (or a device) swapped in for a regular file after the walk's lstat
// must not block until a writer appears. Reading a regular file ignores
// the flag; it is cleared anyway once the file is known to be regular.
const openNonblock = syscall.O_NONBLOCK

// errChangedType: the file opened is not the regular file the walk saw.
var errChangedType = errors.New("changed type while read (replaced by another file, e.g. a FIFO, after it was listed): skipped")

// checkOpened verifies that fd is the regular file that the walk's lstat
// saw (same device and inode) and switches it back to blocking reads.
func checkOpened(fd int, dev, ino uint64) error {
	var st unix.Stat_t
	for {
		err := unix.Fstat(fd, &st)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return errChangedType
	}
	return unix.SetNonblock(fd, false)
}
