//go:build !linux && !darwin && !freebsd && !windows

package fs

// isFull: ENOSPC alone is known here (IsNoSpace).
func isFull(error) bool { return false }

// isWriteProtected: EROFS is the only such error known here (IsReadOnly).
func isWriteProtected(error) bool { return false }
