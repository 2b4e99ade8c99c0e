//go:build linux || darwin || freebsd

package repo

import (
	"os"
	"syscall"
)

// sysStatOf returns the owner, inode, device, link count, device number and
// ctime of a file's lstat result (os.Lstat's or rawfile.go's statInfo, both
// a *syscall.Stat_t).
func sysStatOf(fi os.FileInfo) (sysStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return sysStat{}, false
	}
	return sysStat{
		uid: st.Uid, gid: st.Gid,
		ino: uint64(st.Ino), dev: uint64(st.Dev), nlink: uint64(st.Nlink),
		rdev:  uint64(st.Rdev),
		ctime: statCtime(st),
	}, true
}
