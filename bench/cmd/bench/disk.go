package main

import (
	"io/fs"
	"path/filepath"
)

// diskUsage is what the tree under dir occupies on disk, directories
// included, like `du -s` (allocated: per platform).
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
		n += allocated(fi)
		return nil
	})
	return n, err
}
