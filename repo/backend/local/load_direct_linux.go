package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// Pack ranges of directMin..directMax bytes loaded with a context marked
// by backend.WithReadOnce (a restore reads packs in ranges of up to 8 MiB)
// are read into an aligned buffer of this package, with O_DIRECT unless
// they are in the page cache already, and fn gets a reader over that
// buffer (memReader) whose NextBytes hands out its bytes without a copy.
// Through the page cache, reading 2 GiB of packs cost 0.6 CPU-s of kernel
// time (allocating and inserting page-cache pages, readahead, copying to
// the user buffer); direct, 0.2 (issue 14).
const (
	directMinShift = 20
	directMaxShift = 24
	directMin      = 1 << directMinShift
	directMax      = 1 << directMaxShift
	directAlign    = 4096
)

// directBufs keeps a few idle aligned buffers per power-of-two size class,
// from directMin to directMax (+ two alignments for the rounding of the
// range). They are anonymous mappings, outside the Go heap: up to 16 MiB
// each, a restore's ranges in flight held 50-60 MiB of heap, which under
// the program's soft memory limit (cmd: 192 MiB) made the collector run
// back to back (a 150,000-file restore spent 3 more user-seconds, most of
// it scanning the heap), and a sync.Pool dropped them at every collection
// only to allocate and clear them again.
var directBufs [directMaxShift - directMinShift + 1]chan []byte

// directIdle is how many idle buffers a class keeps; more are unmapped.
const directIdle = 4

func init() {
	for i := range directBufs {
		directBufs[i] = make(chan []byte, directIdle)
	}
}

// directClass is the pool index for a range of n bytes (directMin..directMax).
func directClass(n int64) int {
	shift := bits.Len64(uint64(n - 1)) // 1<<shift >= n
	return max(shift, directMinShift) - directMinShift
}

// getDirectBuf returns an idle buffer of class c, or maps a new one
// (page-aligned, so aligned for O_DIRECT).
func getDirectBuf(c int) ([]byte, error) {
	select {
	case b := <-directBufs[c]:
		return b, nil
	default:
	}
	return unix.Mmap(-1, 0, directMin<<c+2*directAlign, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

// putDirectBuf keeps b for the next range of class c, or unmaps it.
func putDirectBuf(c int, b []byte) {
	select {
	case directBufs[c] <- b:
	default:
		_ = unix.Munmap(b)
	}
}

// loadDirect serves Load for [offset, offset+length) of p when the range
// is directMin..directMax bytes: read into a pooled aligned buffer, with
// O_DIRECT unless most of the range is in the page cache already (a
// restore right after a backup: copying from the cache beats reading the
// device again) or the file system refuses O_DIRECT (EINVAL); fn gets a
// memReader over the buffer. handled is false when the range is out of
// those sizes, and nothing was called. Errors are wrapped as Load's; fn's
// error is returned unchanged.
func loadDirect(h backend.Handle, p string, length int, offset int64, fn func(io.Reader) error) (handled bool, err error) {
	if length < directMin || length > directMax || offset < 0 {
		return false, nil
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("load %v: %w", h, notFound(&fs.PathError{Op: "open", Path: p, Err: err}))
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return true, fmt.Errorf("load %v: %w", h, &fs.PathError{Op: "fstat", Path: p, Err: err})
	}
	n, err := backend.CheckRange(st.Size, length, offset)
	if err != nil {
		return true, fmt.Errorf("load %v: %w", h, err)
	}
	start := offset &^ (directAlign - 1)
	end := (offset + n + directAlign - 1) &^ (directAlign - 1)
	c := directClass(n)
	bp, err := getDirectBuf(c)
	if err != nil {
		return false, nil // no mapping: the page cache path, as for other sizes
	}
	defer putDirectBuf(c, bp)
	direct := !mostlyCached(fd, start, end-start) && setDirect(fd, true)
	if testHookDirect != nil {
		testHookDirect(direct)
	}
	buf := bp[:end-start]
	want := int(offset + n - start) // bytes needed from start
	got := 0
	for got < want {
		m, err := unix.Pread(fd, buf[got:], start+int64(got))
		if err == unix.EINTR {
			continue
		}
		if err == unix.EINVAL && direct && setDirect(fd, false) {
			// O_DIRECT refused at read time (an alignment the file
			// system wants, or a short read left got unaligned): the
			// rest through the page cache.
			direct = false
			continue
		}
		if err != nil {
			return true, fmt.Errorf("load %v: %w", h, &fs.PathError{Op: "read", Path: p, Err: err})
		}
		if m == 0 {
			return true, fmt.Errorf("load %v: read %s: %w", h, p, io.ErrUnexpectedEOF)
		}
		got += m
	}
	return true, fn(&memReader{b: buf[offset-start : want]})
}

// testHookDirect, when set (tests), is told whether a range is read
// with O_DIRECT.
var testHookDirect func(direct bool)

// mostlyCached reports whether at least half of [off, off+n) of fd is in
// the page cache (cachestat(2), Linux 6.5; without it, false).
func mostlyCached(fd int, off, n int64) bool {
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(fd), &unix.CachestatRange{Off: uint64(off), Len: uint64(n)}, &cs, 0); err != nil {
		return false
	}
	return int64(cs.Cache)*2*int64(os.Getpagesize()) >= n
}

// setDirect sets or clears O_DIRECT on fd; false if it could not.
func setDirect(fd int, on bool) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return false
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
	return err == nil
}

// memReader reads a byte slice (the range Load read): io.Reader,
// io.ReaderAt and io.Seeker like the *io.SectionReader of a buffered load,
// plus NextBytes.
type memReader struct {
	b   []byte
	pos int
}

func (r *memReader) Read(p []byte) (int, error) {
	if r.pos >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.pos:])
	r.pos += n
	return n, nil
}

func (r *memReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("local: negative offset")
	}
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *memReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += int64(r.pos)
	case io.SeekEnd:
		offset += int64(len(r.b))
	default:
		return 0, errors.New("local: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("local: negative position")
	}
	r.pos = int(min(offset, int64(len(r.b))))
	return offset, nil
}

// Size is the length of the range (as io.SectionReader's).
func (r *memReader) Size() int64 { return int64(len(r.b)) }

// NextBytes returns the next n bytes of the range and advances past them,
// without copying: the slice is this Load's buffer, valid until fn
// returns; the caller may overwrite it (decrypt in place). Fewer than n
// bytes left: io.ErrUnexpectedEOF, nothing consumed.
func (r *memReader) NextBytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, io.ErrUnexpectedEOF
	}
	b := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b, nil
}
