//go:build linux

package main

import (
	"io/fs"
	"syscall"
)

// freeSpace is the bytes an unprivileged user may still write on the file
// system of dir (statfs f_bavail: the root reserve is not counted, so the
// plan keeps it as a margin of its own).
var freeSpace = func(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// allocated is what one entry occupies on disk: its allocated blocks (a
// thumbnail of 2-40 KB takes whole 4 KiB blocks, and corpus B has a
// directory for every two files at 150,000 files), like `du`.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
