package repo

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Spooled packs are written with O_DIRECT, in aligned 1 MiB writes by a
// goroutine of the pack's own, while the blob workers fill the next
// buffer (at most 3 MiB per open pack: one being written, one queued, one
// being filled; open packs are bounded by the blob workers); the last partial 4 KiB block goes through the page cache (and
// CommitTemp's fsync). Through the page cache, writing 2 GiB as 128 packs
// of 16 MiB and fsyncing each cost this kernel 3.5-5.1 CPU-seconds (page
// allocation, copying, delayed allocation, writeback) and took 3.4-3.9 s;
// direct, 0.22-0.25 CPU-s and 2.2-2.3 s (2 writers, ext4 on virtio, 3 runs
// each, issue 14). A cold backup of incompressible data spent about a
// third of its CPU time writing its packs.
//
// Only on the local disk file systems of directSinkFS: on a network file
// system (NFS, SMB, a FUSE mount such as sshfs or rclone) a direct write
// is a synchronous round trip to the server, often with a commit to its
// disk, where buffered writes are pipelined and committed once at fsync;
// on tmpfs it saves nothing. A file system that refuses O_DIRECT anyway
// (at fcntl, or with EINVAL at a write: an alignment it does not accept)
// is written through the page cache instead, from that write on; nothing
// else changes. Durability is
// CommitTemp's fsync, as before: it flushes the tail, the metadata and
// the device's write cache.
const (
	sinkBufSize = 1 << 20
	sinkDepth   = 1 // full buffers queued to a pack's writing goroutine
	sinkAlign   = 4096
	sinkIdle    = 8 // idle buffers kept for the next packs
)

// directSinkFS are the file systems (statfs f_type) on which packs are
// written with O_DIRECT: those of local disks, where it was measured or
// is documented to bypass the page cache for aligned writes.
var directSinkFS = map[uint32]bool{
	unix.EXT4_SUPER_MAGIC:  true, // also ext2 and ext3
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.F2FS_SUPER_MAGIC:  true,
}

// sinkBufs keeps idle write buffers: anonymous mappings (page-aligned, as
// O_DIRECT needs, and outside the Go heap, where a few MiB per open pack
// would make the collector run more often under the memory limit).
var sinkBufs = make(chan []byte, sinkIdle)

func getSinkBuf() ([]byte, error) {
	select {
	case b := <-sinkBufs:
		return b, nil
	default:
	}
	return unix.Mmap(-1, 0, sinkBufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

func putSinkBuf(b []byte) {
	b = b[:cap(b)]
	select {
	case sinkBufs <- b:
	default:
		_ = unix.Munmap(b)
	}
}

// directSink is the Linux packSink.
type directSink struct {
	f      *os.File
	fd     int
	direct bool // O_DIRECT is set on fd (written by run while it runs)
	cur    []byte
	n      int           // bytes of cur filled
	queue  chan []byte   // full buffers for run, which puts them back
	done   chan struct{} // closed when run returned
	ended  bool          // queue closed (Flush or Close)

	// aborted (Close): run puts the buffers still queued back unwritten.
	aborted atomic.Bool
	// directBytes counts what went to the file with O_DIRECT set.
	directBytes atomic.Int64

	mu  sync.Mutex
	err error // first write error
}

// errSinkEnded: a Write after Flush or Close (a bug of the caller).
var errSinkEnded = errors.New("pack sink: write after Flush or Close")

func newPackSink(f *os.File) packSink {
	s := &directSink{f: f, fd: int(f.Fd()), queue: make(chan []byte, sinkDepth), done: make(chan struct{})}
	var st unix.Statfs_t
	if unix.Fstatfs(s.fd, &st) == nil && directSinkFS[uint32(st.Type)] {
		if fl, err := unix.FcntlInt(uintptr(s.fd), unix.F_GETFL, 0); err == nil {
			_, err = unix.FcntlInt(uintptr(s.fd), unix.F_SETFL, fl|unix.O_DIRECT)
			s.direct = err == nil
		}
	}
	go s.run()
	return s
}

// run writes the queued buffers in order; after an error it only puts
// them back, so that a Write never blocks on a dead writer.
func (s *directSink) run() {
	defer close(s.done)
	for b := range s.queue {
		if s.failed() == nil && !s.aborted.Load() {
			if err := s.writeAll(b); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
		}
		putSinkBuf(b)
	}
}

func (s *directSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// writeAll writes b at the file's offset, leaving O_DIRECT when the file
// system refuses a direct write or a short write leaves the rest
// unaligned.
func (s *directSink) writeAll(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(s.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EINVAL && s.direct:
			if err := s.buffered(); err != nil {
				return err
			}
			continue
		case err != nil:
			return &os.PathError{Op: "write", Path: s.f.Name(), Err: err}
		case n <= 0:
			return &os.PathError{Op: "write", Path: s.f.Name(), Err: io.ErrShortWrite}
		}
		b = b[n:]
		if s.direct {
			s.directBytes.Add(int64(n))
		}
		if s.direct && n%sinkAlign != 0 {
			if err := s.buffered(); err != nil {
				return err
			}
		}
	}
	return nil
}

// buffered clears O_DIRECT: the rest is written through the page cache.
func (s *directSink) buffered() error {
	if !s.direct {
		return nil
	}
	fl, err := unix.FcntlInt(uintptr(s.fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(s.fd), unix.F_SETFL, fl&^unix.O_DIRECT)
	}
	if err != nil {
		return &os.PathError{Op: "fcntl", Path: s.f.Name(), Err: err}
	}
	s.direct = false
	return nil
}

func (s *directSink) Write(p []byte) (int, error) {
	if s.ended {
		return 0, errSinkEnded
	}
	written := 0
	for len(p) > 0 {
		if err := s.failed(); err != nil {
			return written, err
		}
		if s.cur == nil {
			b, err := getSinkBuf()
			if err != nil {
				return written, err
			}
			s.cur, s.n = b, 0
		}
		k := copy(s.cur[s.n:], p)
		s.n += k
		p = p[k:]
		written += k
		if s.n == len(s.cur) {
			s.queue <- s.cur
			s.cur = nil
		}
	}
	return written, nil
}

// Flush hands the whole 4 KiB blocks of the last buffer to run, waits for
// it, and writes the rest through the page cache; O_DIRECT is cleared, so
// the file can be read back at any offset.
func (s *directSink) Flush() error {
	if s.ended {
		return errSinkEnded
	}
	var tail []byte
	if s.cur != nil {
		whole := s.n &^ (sinkAlign - 1)
		tail = append([]byte(nil), s.cur[whole:s.n]...)
		if whole > 0 {
			s.queue <- s.cur[:whole]
		} else {
			putSinkBuf(s.cur)
		}
		s.cur = nil
	}
	s.end()
	if err := s.failed(); err != nil {
		return err
	}
	if err := s.buffered(); err != nil {
		return err
	}
	for len(tail) > 0 {
		n, err := unix.Write(s.fd, tail)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "write", Path: s.f.Name(), Err: err}
		}
		if n <= 0 {
			return &os.PathError{Op: "write", Path: s.f.Name(), Err: io.ErrShortWrite}
		}
		tail = tail[n:]
	}
	return nil
}

// Close drops what is buffered or queued and waits for run to stop
// writing (it finishes the write under way, if any).
func (s *directSink) Close() {
	s.aborted.Store(true)
	if s.cur != nil {
		putSinkBuf(s.cur)
		s.cur = nil
	}
	s.end()
}

func (s *directSink) end() {
	if !s.ended {
		s.ended = true
		close(s.queue)
	}
	<-s.done
}
