package fs

import "golang.org/x/sys/unix"

// fadviseWillNeed asks the kernel to read [off, off+n) ahead
// (posix_fadvise, as on Linux). Advice only: an error changes nothing but
// speed.
func fadviseWillNeed(fd int, off, n int64) {
	_ = unix.Fadvise(fd, off, n, unix.FADV_WILLNEED)
}
