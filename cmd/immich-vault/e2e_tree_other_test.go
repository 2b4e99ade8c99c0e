//go:build !unix

package main_test

import (
	"io/fs"
	"os"
	"testing"
	"time"
)

// statSys: package os tells no owner, group, device, inode, link count or
// blocks here (docs/PLATFORMS.md: Windows records none of them); they stay
// zero.
func statSys(n *nodeInfo, fi fs.FileInfo) {}

// setMtime sets the mtime (and atime) of path. os.Chtimes follows
// symlinks, and there is no call here that does not: a test that would set
// a symlink's own time is skipped rather than set its target's.
func setMtime(t *testing.T, path string, mt time.Time) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t.Skipf("cannot set the mtime of symlink %s on this system", path)
	}
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatalf("set mtime of %s: %v", path, err)
	}
}
