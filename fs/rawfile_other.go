//go:build !unix

package fs

// openNonblock: no such flag outside Unix (and no FIFOs to block on).
const openNonblock = 0

// checkOpened has no device and inode to compare outside Unix.
func checkOpened(fd int, dev, ino uint64) error { return nil }

// clearNonblock: nothing to clear (openNonblock is 0).
func clearNonblock(fd int) error { return nil }
