package repo

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

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
		if ds, ok := s.(*directSink); !ok || !ds.direct {
			t.Errorf("size %d: the sink does not write with O_DIRECT on %s", size, dir)
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

// Close drops what is buffered and returns only once nothing more is
// written: the file is then safe to close and remove.
func TestPackSinkCloseStopsWriting(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "pack")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newPackSink(f)
	data := bytes.Repeat([]byte("x"), 3*sinkBufSize+100)
	if _, err := s.Write(data); err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 3*sinkBufSize {
		t.Fatalf("after Close the file has %d bytes; want the 3 full buffers (%d), not the 100 buffered", fi.Size(), 3*sinkBufSize)
	}
	// Nothing runs any more: a second close is harmless.
	s.Close()
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
	// The kernel's own answer first: this write is refused.
	if _, err := unix.Pwrite(s.fd, b, 0); !errors.Is(err, unix.EINVAL) {
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
