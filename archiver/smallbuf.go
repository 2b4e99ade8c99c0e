package archiver

import (
	"math/bits"
	"sync"
)

// Buffers of small files. A file smaller than the chunker's minimum is
// one chunk, read whole by one read: a 2 MiB chunk buffer and a 1 MiB
// read buffer for a 20 KiB thumbnail cost 3 MiB of heap per file being
// read, which bounded how many small files could be read at once (64
// file workers ran the heap into the 192 MiB soft limit and the collector
// back to back: twice the CPU, three times the wall time). Its buffers
// come from power-of-two size classes instead, from 16 KiB (the chunker's
// smallest direct read) to the largest small file.

const (
	smallMinShift = 14 // 16 KiB
	smallClasses  = 7  // 16 KiB .. 1 MiB
	// smallReadBuf is the chunker's read buffer for a small file: it
	// is only used should the file have grown past its chunk buffer.
	smallReadBuf = 1 << smallMinShift
)

var smallPools [smallClasses]sync.Pool

// isSmall: a file of size bytes (-1: unknown) is one chunk for a chunker
// whose minimum chunk is min, and its buffer has a class.
func isSmall(size int64, min int) bool {
	return size >= 0 && size < int64(min) && size+1 <= 1<<(smallMinShift+smallClasses-1)
}

// smallClass is the class of buffers of at least n bytes (n <= the
// largest class).
func smallClass(n int) int {
	if n <= 1<<smallMinShift {
		return 0
	}
	return bits.Len(uint(n-1)) - smallMinShift
}

// getSmallBuf returns an empty buffer with room for n bytes.
func getSmallBuf(n int) *[]byte {
	c := smallClass(n)
	if b, ok := smallPools[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1<<(smallMinShift+c))
	return &b
}

// putChunkBuf returns a chunk or read buffer to its pool: a small class's
// buffer (still exactly its class's size) to that class, any other to
// the chunk buffers (which grow to the chunk's size anyway), except a
// small one that grew to an odd size (a file that grew while read).
func putChunkBuf(b *[]byte) {
	n := cap(*b)
	*b = (*b)[:0]
	if n >= 1<<smallMinShift && n <= 1<<(smallMinShift+smallClasses-1) && n&(n-1) == 0 {
		smallPools[smallClass(n)].Put(b)
		return
	}
	if n >= 2<<20 {
		chunkPool.Put(b)
	}
}
