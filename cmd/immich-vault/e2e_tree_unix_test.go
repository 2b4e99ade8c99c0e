//go:build unix

package main_test

import (
	"io/fs"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statSys fills in what lstatNode reads of fi beyond package os: owner,
// group, device, inode, link count and blocks.
func statSys(n *nodeInfo, fi fs.FileInfo) {
	st := fi.Sys().(*syscall.Stat_t)
	n.UID = st.Uid
	n.GID = st.Gid
	n.dev = uint64(st.Dev)
	n.ino = st.Ino
	n.nlink = uint64(st.Nlink)
	n.blocks = st.Blocks
}

// setMtime sets the mtime (and atime) of path without following symlinks.
func setMtime(t *testing.T, path string, mt time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatalf("set mtime of %s: %v", path, err)
	}
}
