//go:build linux || darwin || freebsd

package fs

import (
	"os"
	"syscall"
)

// SysStatOf returns the owner, inode, device, link count, device number and
// ctime of a file's lstat result (os.Lstat's or rawfile.go's statInfo, both
// a *syscall.Stat_t).
func SysStatOf(fi os.FileInfo) (SysStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return SysStat{}, false
	}
	return SysStat{
		UID: st.Uid, GID: st.Gid,
		Ino: uint64(st.Ino), Dev: uint64(st.Dev), Nlink: uint64(st.Nlink),
		Rdev:  uint64(st.Rdev),
		Ctime: statCtime(st),
	}, true
}
