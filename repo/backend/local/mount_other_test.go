//go:build !linux

package local

import "testing"

// mountTmpfs: tmpfs mounts (the disk-full tests) are Linux-only.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	t.Skip("mounting a tmpfs is Linux-only")
	return ""
}
