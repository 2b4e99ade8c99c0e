//go:build darwin || freebsd

package fs

import (
	"syscall"
	"time"
)

// macOS and FreeBSD: the raw source path of rawfile.go without O_NOATIME
// (no such flag: sources are opened plainly and their access time may be
// updated, as by any reader, unless the file system is mounted noatime).
// See docs/PLATFORMS.md.
const openNoatime = 0

func statMtime(st *syscall.Stat_t) time.Time {
	return time.Unix(int64(st.Mtimespec.Sec), int64(st.Mtimespec.Nsec))
}

func statCtime(st *syscall.Stat_t) time.Time {
	return time.Unix(int64(st.Ctimespec.Sec), int64(st.Ctimespec.Nsec))
}
