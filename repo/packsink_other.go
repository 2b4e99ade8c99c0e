//go:build !linux

package repo

import "os"

// newPackSink returns the portable sink: direct writes are Linux only
// (packsink_linux.go).
func newPackSink(f *os.File) packSink { return newBufSink(f) }
