//go:build !unix

package index

// freeSpace cannot tell the free space here: the reserve is not enforced.
func freeSpace(dir string) (int64, bool) { return 0, false }
