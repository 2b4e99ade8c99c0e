package fs

import "golang.org/x/sys/unix"

// mknod creates a device or socket node; FreeBSD's device number is a
// uint64 (an int on the other Unixes: mknod_unix.go). For restorer.go's
// special files.
func mknod(path string, mode uint32, rdev uint64) error { return unix.Mknod(path, mode, rdev) }
