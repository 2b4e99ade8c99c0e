package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/backend"
)

func TestDirectClassFits(t *testing.T) {
	for _, n := range []int64{directMin, directMin + 1, 3 << 20, 4 << 20, 4<<20 + 1, 8<<20 + 65<<10, directMax} {
		c := directClass(n)
		if c < 0 || c >= len(directBufs) {
			t.Fatalf("class of %d: %d, out of [0,%d)", n, c, len(directBufs))
		}
		// The rounded range (start down, end up to directAlign) fits.
		b, err := getDirectBuf(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(b); int64(got) < n+2*directAlign {
			t.Errorf("class %d for %d bytes: buffer of %d", c, n, got)
		}
		if uintptr(unsafe.Pointer(&b[0]))%directAlign != 0 {
			t.Errorf("class %d: buffer not aligned to %d", c, directAlign)
		}
		putDirectBuf(c, b)
		if c > 0 && int64(directMin<<(c-1)) >= n {
			t.Errorf("class %d for %d bytes: class %d would do", c, n, c-1)
		}
	}
}

// TestLoadDirectRanges loads ranges of a pack marked read-once, short and
// long, aligned and not, to the end of the file and past it, and compares
// them with the file: long ranges come as a reader that lends its bytes
// (NextBytes) and also reads, seeks and reads at like the buffered path's
// *io.SectionReader; they are copied from the page cache while the pack
// is there and read with O_DIRECT once it is evicted; fn's error comes
// back unchanged; unmarked loads keep the buffered path.
func TestLoadDirectRanges(t *testing.T) {
	ctx := backend.WithReadOnce(context.Background())
	be, err := Open(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Create(ctx); err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 5<<20+12345)
	rand.NewChaCha8([32]byte{1}).Read(content)
	h := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("ab", 32)}
	if err := be.Save(ctx, h, backend.NewByteReader(content)); err != nil {
		t.Fatal(err)
	}
	// Freshly written, the pack is in the page cache: the ranges are
	// copied from there (still lent). Evicted, they are read with
	// O_DIRECT where the file system takes it.
	var directReads, cachedReads int
	defer func() { testHookDirect = nil }()
	testHookDirect = func(d bool) {
		if d {
			directReads++
		} else {
			cachedReads++
		}
	}
	loadRanges(t, be, h, content)
	if err := unix.Cachestat(0, &unix.CachestatRange{}, &unix.Cachestat_t{}, 0); errors.Is(err, unix.ENOSYS) {
		t.Logf("no cachestat(2) on this kernel: %d ranges read direct although in the page cache", directReads)
	} else if directReads != 0 || cachedReads == 0 {
		t.Errorf("pack in the page cache: %d ranges read direct, %d from the cache; want all from the cache", directReads, cachedReads)
	}
	evict(t, filepath.Join(be.dir, "data", h.Name[:2], h.Name))
	directReads, cachedReads = 0, 0
	loadRanges(t, be, h, content)
	if f, err := os.OpenFile(filepath.Join(be.dir, "data", h.Name[:2], h.Name), os.O_RDONLY|syscall.O_DIRECT, 0); err != nil {
		t.Logf("the temporary directory's file system refuses O_DIRECT (%v): %d ranges read from the cache", err, cachedReads)
	} else {
		f.Close()
		if directReads == 0 {
			t.Errorf("evicted pack: %d ranges read direct, %d from the cache; want direct", directReads, cachedReads)
		}
	}

	sentinel := errors.New("sentinel")
	if err := be.Load(ctx, h, 2<<20, 5, func(io.Reader) error { return sentinel }); err != sentinel {
		t.Errorf("fn's error: got %v, want it unchanged", err)
	}
	if err := be.Load(ctx, h, 2<<20, int64(len(content)-(1<<20)), func(io.Reader) error {
		t.Error("fn called for a range past the end")
		return nil
	}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("range past the end: %v, want io.ErrUnexpectedEOF", err)
	}
	// Without the mark: the page cache, a plain *io.SectionReader.
	if err := be.Load(context.Background(), h, 2<<20, 5, func(rd io.Reader) error {
		if _, ok := rd.(*io.SectionReader); !ok {
			t.Errorf("unmarked load: reader %T, want *io.SectionReader", rd)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// evict writes p's pages back and drops them from the page cache.
func evict(t testing.TB, p string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// loadRanges loads ranges of h, short and long, aligned and not, and
// compares them with content.
func loadRanges(t *testing.T, be *Local, h backend.Handle, content []byte) {
	t.Helper()
	ctx := backend.WithReadOnce(context.Background())
	lent := 0
	for _, r := range []struct{ off, n int }{
		{0, 1 << 20}, {1, 1 << 20}, {4095, 3<<20 + 7}, {4096, 2 << 20},
		{len(content) - (1 << 20), 1 << 20},     // to the end of the file
		{len(content) - (2<<20 + 1), 2<<20 + 1}, // to the end, unaligned start
		{100, 1000}, {len(content) - 10, 10},    // short: buffered
		{0, 0}, // whole file: buffered
	} {
		want := content[r.off:]
		if r.n > 0 {
			want = want[:r.n]
		}
		err := be.Load(ctx, h, r.n, int64(r.off), func(rd io.Reader) error {
			if nb, ok := rd.(interface{ NextBytes(int) ([]byte, error) }); ok {
				lent++
				head, err := nb.NextBytes(10)
				if err != nil || !bytes.Equal(head, want[:10]) {
					t.Errorf("range %d+%d: NextBytes(10) = %x, %v; want %x", r.off, r.n, head, err, want[:10])
				}
				if _, err := nb.NextBytes(len(want)); err == nil {
					t.Errorf("range %d+%d: NextBytes past the end: no error", r.off, r.n)
				}
				if _, err := rd.(io.Seeker).Seek(0, io.SeekStart); err != nil {
					t.Fatal(err)
				}
			}
			got, err := io.ReadAll(rd)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				t.Errorf("range %d+%d: got %d bytes, want %d (equal prefix %d)", r.off, r.n, len(got), len(want), prefix(got, want))
			}
			ra := rd.(io.ReaderAt)
			b := make([]byte, 7)
			if n, err := ra.ReadAt(b, 3); n != 7 || (err != nil && err != io.EOF) || !bytes.Equal(b, want[3:10]) {
				t.Errorf("range %d+%d: ReadAt(7, 3) = %d, %v", r.off, r.n, n, err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("range %d+%d: %v", r.off, r.n, err)
		}
	}
	t.Logf("%d ranges lent", lent)
	if lent == 0 {
		t.Error("no range lent")
	}
}

func prefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// BenchmarkLoadReadOnce reads a 64 MiB pack in 8 MiB ranges, as a restore
// does, after evicting it from the page cache each time: marked
// read-once (O_DIRECT into a lent buffer) and unmarked (through the page
// cache, copied into the caller's buffer). Compare the CPU time too
// (e.g. -cpuprofile, or time's user+sys): most of the buffered path's
// cost is kernel time.
func BenchmarkLoadReadOnce(b *testing.B) {
	const size, span = 64 << 20, 8 << 20
	l := newCreated(b)
	content := make([]byte, size)
	rand.NewChaCha8([32]byte{5}).Read(content)
	h := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("cd", 32)}
	if err := l.Save(context.Background(), h, backend.NewByteReader(content)); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(l.dir, "data", h.Name[:2], h.Name)
	for _, mode := range []string{"buffered", "readonce"} {
		ctx := context.Background()
		if mode == "readonce" {
			ctx = backend.WithReadOnce(ctx)
		}
		b.Run(mode, func(b *testing.B) {
			buf := make([]byte, span)
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				evict(b, p)
				b.StartTimer()
				for off := int64(0); off < size; off += span {
					err := l.Load(ctx, h, span, off, func(rd io.Reader) error {
						if nb, ok := rd.(interface{ NextBytes(int) ([]byte, error) }); ok {
							_, err := nb.NextBytes(span)
							return err
						}
						_, err := io.ReadFull(rd, buf)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
