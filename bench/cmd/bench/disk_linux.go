//go:build linux

package main

import (
	"io/fs"
	"path/filepath"
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

// diskUsage is what the tree under dir occupies on disk: the allocated
// blocks of every entry, directories included (a thumbnail of 2-40 KB takes
// whole 4 KiB blocks, and corpus B has a directory for every two files at
// 150,000 files), like `du -s`.
func diskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += int64(st.Blocks) * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
