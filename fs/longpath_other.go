//go:build !unix

package fs

import "os"

// Without Unix descriptors (Windows), long paths are left to the os
// package, which handles them on its own (\\?\ prefixes on Windows).

func ReadlinkLong(p string) (string, error) { return os.Readlink(p) }

func OpenLongFile(p string) (*os.File, error) { return os.Open(p) }
