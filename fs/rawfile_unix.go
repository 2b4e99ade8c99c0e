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
// the flag, so it is left set (clearing it cost two fcntl calls per file);
// should a file system answer a read with EAGAIN all the same, RawFile.Read
// clears it then and reads again (clearNonblock).
const openNonblock = syscall.O_NONBLOCK

// clearNonblock switches fd to blocking reads.
func clearNonblock(fd int) error { return unix.SetNonblock(fd, false) }

// errChangedType: the file opened is not the regular file the walk saw.
var errChangedType = errors.New("changed type while read (replaced by another file, e.g. a FIFO, after it was listed): skipped")

// checkOpened verifies that fd is the regular file that the walk's lstat
// saw (same device and inode).
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
	return nil
}
