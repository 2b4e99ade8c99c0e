//go:build linux

package fs

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Linux: the raw source path of rawfile.go with every feature (see
// docs/PLATFORMS.md).

// openNoatime keeps a backup from updating the sources' access times
// (rawfile.go retries without it where the kernel refuses it: EPERM for
// files the user does not own).
const openNoatime = syscall.O_NOATIME

// fadviseWillNeed asks the kernel to read [off, off+n) ahead. Advice only:
// an error (a file system without it) changes nothing but speed.
func fadviseWillNeed(fd int, off, n int64) {
	_ = unix.Fadvise(fd, off, n, unix.FADV_WILLNEED)
}

func statMtime(st *syscall.Stat_t) time.Time {
	return time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec))
}

func statCtime(st *syscall.Stat_t) time.Time {
	return time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
}
