package restorer

import (
	"math/bits"
	"sync"
)

// Buffers for sealed blobs, pooled by power-of-two size class. A restore
// reads every blob into one of these, decrypts it in place and writes it
// from there: a fresh buffer per range cost the allocation, the runtime's
// clearing of it, a page fault per page on first touch and GC work; on a
// 2 GiB restore of large media files that was a tenth of the CPU time
// (issue 14).
const (
	minBlobBufShift = 16 // 64 KiB
	maxBlobBufShift = 24 // 16 MiB: a data blob is at most 8 MiB (+ overhead)
)

var blobBufPools [maxBlobBufShift - minBlobBufShift + 1]sync.Pool

// blobBufClass returns the pool index for n bytes, or -1 when n is larger
// than the largest class (such a buffer is allocated and not pooled).
func blobBufClass(n int) int {
	if n <= 1<<minBlobBufShift {
		return 0
	}
	shift := bits.Len(uint(n - 1)) // 1<<shift >= n
	if shift > maxBlobBufShift {
		return -1
	}
	return shift - minBlobBufShift
}

// getBlobBuf returns a buffer of length n. Its contents are undefined.
func getBlobBuf(n int) *[]byte {
	c := blobBufClass(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if p, ok := blobBufPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+minBlobBufShift))
	return &b
}

// putBlobBuf returns b (from getBlobBuf) to its pool.
func putBlobBuf(b *[]byte) {
	c := blobBufClass(cap(*b))
	if c < 0 || cap(*b) != 1<<(c+minBlobBufShift) {
		return
	}
	blobBufPools[c].Put(b)
}

// nextByteser is a reader that lends its next n bytes without copying
// them (the local backend's reader of a range read into memory); the
// caller may overwrite them until the Load's function returns.
type nextByteser interface {
	NextBytes(n int) ([]byte, error)
}
