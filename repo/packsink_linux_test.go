package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A pack written through the direct sink, in pieces of any size, is in
// the file byte for byte after Flush, and the file reads back at any
// offset (O_DIRECT cleared). Sizes straddle the 4 KiB blocks and the
// 1 MiB buffers. Runs on the test's temporary directory (ext4 here), where
// the writes really are direct: the test checks that too.
func TestPackSinkWritesEveryByte(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, sinkAlign - 1, sinkAlign, sinkAlign + 1, sinkBufSize - 1, sinkBufSize, sinkBufSize + 1, 5*sinkBufSize + 12345} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(rng.Uint32())
		}
		f, err := os.CreateTemp(dir, "pack")
		if err != nil {
			t.Fatal(err)
		}
		s := newPackSink(f)
		ds := s.(*directSink)
		direct := ds.direct
		if size == 0 {
			switch {
			case localDisk(t, dir) && !direct:
				t.Errorf("%s is a local disk's file system, and the sink does not write to it with O_DIRECT", dir)
			case !direct:
				t.Logf("%s is not a local disk's file system: the sink writes through the page cache", dir)
			}
		}
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(3*sinkAlign))
			if rng.IntN(8) == 0 {
				n = min(len(rest), sinkBufSize+rng.IntN(sinkBufSize))
			}
			if k, err := s.Write(rest[:n]); err != nil || k != n {
				t.Fatalf("size %d: Write = %d, %v", size, k, err)
			}
			rest = rest[n:]
		}
		if err := s.Flush(); err != nil {
			t.Fatalf("size %d: Flush: %v", size, err)
		}
		// Where O_DIRECT was accepted, every whole 4 KiB block went
		// direct; only the tail went through the page cache.
		if got, want := ds.directBytes.Load(), int64(size&^(sinkAlign-1)); direct && got != want {
			t.Errorf("size %d: %d bytes written direct, want %d", size, got, want)
		}
		if size > 10 {
			// Unaligned reads of the open file: O_DIRECT is off.
			b := make([]byte, 7)
			if _, err := f.ReadAt(b, int64(size-10)); err != nil || !bytes.Equal(b, want[size-10:size-3]) {
				t.Fatalf("size %d: ReadAt after Flush = %x, %v", size, b, err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.Name())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: file holds %d bytes (err %v), equal %v", size, len(got), err, bytes.Equal(got, want))
		}
	}
}

// localDisk reports whether dir is on a file system the sink writes to
// with O_DIRECT.
func localDisk(t *testing.T, dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return directSinkFS[uint32(st.Type)]
}

// On tmpfs (and any file system not of a local disk) the sink writes
// through the page cache, and writes every byte.
func TestPackSinkPageCacheOffLocalDisks(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skip("no tmpfs at /dev/shm")
	}
	f, err := os.CreateTemp("/dev/shm", "packsink-test-")
	if err != nil {
		t.Skip(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	s := newPackSink(f).(*directSink)
	if s.direct {
		t.Error("O_DIRECT set on tmpfs")
	}
	want := bytes.Repeat([]byte("pack"), sinkBufSize/2+3)
	if _, err := s.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(f.Name()); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file holds %d of %d bytes, err %v", len(got), len(want), err)
	}
	if n := s.directBytes.Load(); n != 0 {
		t.Errorf("%d bytes written direct to tmpfs", n)
	}
}

// Close drops what is buffered or queued, lets the write under way finish,
// and returns only once nothing more is written: the file is then safe to
// close. The "file" is a pipe nobody reads until Close has begun, so the
// writing goroutine is stuck in its first buffer (the pipe holds its first
// bytes) while the second waits in the queue; the reader then counts what
// arrives.
func TestPackSinkCloseStopsWriting(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	s := newPackSink(w).(*directSink)
	// One buffer goes to run, which blocks in the pipe; the second
	// waits in the queue (depth 1); 100 bytes stay buffered.
	if _, err := s.Write(make([]byte, 2*sinkBufSize+100)); err != nil {
		t.Fatal(err)
	}
	// run is in its first write once the pipe holds bytes.
	for {
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	for !s.aborted.Load() {
		time.Sleep(time.Millisecond)
	}
	got := make(chan int64)
	go func() { n, _ := io.Copy(io.Discard, r); got <- n }()
	<-closed
	w.Close()
	if n := <-got; n != sinkBufSize {
		t.Fatalf("%d bytes written after Close began; want only the buffer under way (%d)", n, sinkBufSize)
	}
	// Nothing runs any more: a second Close is harmless, a Write fails.
	s.Close()
	if _, err := s.Write([]byte("x")); !errors.Is(err, errSinkEnded) {
		t.Fatalf("Write after Close: %v", err)
	}
}

// A write error (the disk is full) reaches the caller from Write or Flush,
// and no more of the pack is written after it: a short pack must never be
// committed under its name. On tmpfs (page cache writes) and on a small
// ext4 file system in a loop device (direct writes).
func TestPackSinkReportsDiskFull(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount small file systems")
	}
	for _, kind := range []string{"tmpfs", "ext4"} {
		t.Run(kind, func(t *testing.T) {
			mnt := t.TempDir()
			args := []string{"-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt}
			if kind == "ext4" {
				img := filepath.Join(t.TempDir(), "fs.img")
				if out, err := exec.Command("mkfs.ext4", "-q", "-F", img, "4M").CombinedOutput(); err != nil {
					t.Skipf("mkfs.ext4: %v: %s", err, out)
				}
				args = []string{"-o", "loop", img, mnt}
			}
			if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
				t.Skipf("cannot mount %s: %v: %s", kind, err, out)
			}
			t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
			var st unix.Statfs_t
			if err := unix.Statfs(mnt, &st); err != nil {
				t.Fatal(err)
			}
			// Leave 512 KiB free.
			if free := int64(st.Bavail) * int64(st.Bsize); free > 512<<10 {
				if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, free-512<<10), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// 1 MiB: Write only queues it, so the error can only come
			// from Flush; 4 MiB: from Write or Flush. No tail: every
			// byte goes through run.
			for _, size := range []int{sinkBufSize, 4 * sinkBufSize} {
				f, err := os.CreateTemp(mnt, "pack")
				if err != nil {
					t.Fatal(err)
				}
				s := newPackSink(f)
				if kind == "ext4" && !s.(*directSink).direct {
					t.Error("not direct on ext4")
				}
				_, err = s.Write(make([]byte, size))
				if ferr := s.Flush(); err == nil {
					err = ferr
				}
				f.Close()
				os.Remove(f.Name())
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("%d bytes into 512 KiB of free space: %v; want ENOSPC", size, err)
				}
			}
		})
	}
}

// A direct write the file system refuses with EINVAL (here: a buffer that
// is not aligned, as a file system with larger blocks would refuse ours)
// is written through the page cache instead.
func TestPackSinkFallsBackWhenDirectIsRefused(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "pack")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newPackSink(f).(*directSink)
	defer s.Close()
	if !s.direct {
		t.Skip("O_DIRECT not available on the test's temporary directory")
	}
	raw := make([]byte, 2*sinkAlign+1)
	b := raw[1:] // never 4 KiB-aligned in memory
	for i := range b {
		b[i] = byte(i)
	}
	// The kernel's own answer first: this write is refused (tmpfs
	// since Linux 6.6 accepts any alignment: nothing to fall back from).
	if _, err := unix.Pwrite(s.fd, b, 0); err == nil {
		t.Skip("the temporary directory's file system accepts unaligned direct writes")
	} else if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("direct write of an unaligned buffer: %v; want EINVAL", err)
	}
	if err := s.writeAll(b); err != nil {
		t.Fatalf("writeAll: %v", err)
	}
	if s.direct {
		t.Error("still direct after EINVAL")
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("file holds %d bytes, err %v", len(got), err)
	}
}

// BenchmarkPackSink writes 64 MiB as four 16 MiB packs (fsync'd, as
// CommitTemp does) through the direct sink and through the page cache
// (bufSink, the portable sink). CPU time is what they differ in most:
// cpu-ms/op is the process's user+system time per op (getrusage), which
// counts the kernel's copying and page-cache work.
func BenchmarkPackSink(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for _, kind := range []string{"direct", "pagecache"} {
		b.Run(kind, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(64 << 20)
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				for p := 0; p < 4; p++ {
					f, err := os.Create(filepath.Join(dir, fmt.Sprintf("pack-%d-%d", i, p)))
					if err != nil {
						b.Fatal(err)
					}
					var s packSink
					if kind == "direct" {
						s = newPackSink(f)
					} else {
						s = newBufSink(f)
					}
					for j := 0; j < 16; j++ {
						if _, err := s.Write(data); err != nil {
							b.Fatal(err)
						}
					}
					if err := s.Flush(); err != nil {
						b.Fatal(err)
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
