//go:build unix

package index

import "golang.org/x/sys/unix"

// freeSpace returns the bytes available to this user on dir's file system
// (ok false when it cannot be told, as for a file system that reports no
// size at all: ramfs says 0 blocks and 0 free, and takes every write).
func freeSpace(dir string) (int64, bool) {
	var st unix.Statfs_t
	for {
		err := unix.Statfs(dir, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil || st.Blocks == 0 {
			return 0, false
		}
		return int64(st.Bavail) * int64(st.Bsize), true
	}
}
