//go:build !unix

package repo

import "os"

// Without Unix descriptors (Windows), long paths are left to the os
// package, which handles them on its own (\\?\ prefixes on Windows).

func readlinkLong(p string) (string, error) { return os.Readlink(p) }

func openLongFile(p string) (*os.File, error) { return os.Open(p) }
