//go:build unix && !freebsd

package fs

import "golang.org/x/sys/unix"

// mknod creates a device or socket node (mknod_freebsd.go: FreeBSD's device
// number is a uint64). For restorer.go's special files.
func mknod(path string, mode uint32, rdev uint64) error { return unix.Mknod(path, mode, int(rdev)) }
