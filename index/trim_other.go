//go:build !linux

package index

func trimMappings(dir string) int64 { return 0 }
