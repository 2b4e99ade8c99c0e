//go:build !linux

package main

import "io/fs"

// freeSpace: not measured here; the disk plan then runs every tool and
// says that the disk was not checked.
var freeSpace = func(dir string) (int64, bool) { return 0, false }

// allocated approximates what one entry occupies on disk: 4 KiB for a
// directory, a file's size rounded up to 4 KiB blocks.
func allocated(fi fs.FileInfo) int64 {
	if fi.IsDir() {
		return 4096
	}
	return (fi.Size() + 4095) &^ 4095
}
