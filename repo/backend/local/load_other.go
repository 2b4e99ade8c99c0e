//go:build !unix

package local

import "io"

// openLoad: package os's files (load_portable.go) where there is no pread.
func openLoad(p string) (io.ReaderAt, int64, func(), error) { return openLoadPortable(p) }
