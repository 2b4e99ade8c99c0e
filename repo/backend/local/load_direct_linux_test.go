package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
)

func TestDirectClassFits(t *testing.T) {
	for _, n := range []int64{directMin, directMin + 1, 3 << 20, 4 << 20, 4<<20 + 1, 8<<20 + 65<<10, directMax} {
		c := directClass(n)
		if c < 0 || c >= len(directBufs) {
			t.Fatalf("class of %d: %d, out of [0,%d)", n, c, len(directBufs))
		}
		// The rounded range (start down, end up to directAlign) fits.
		if got := len(*getDirectBuf(c)); int64(got) < n+2*directAlign {
			t.Errorf("class %d for %d bytes: buffer of %d", c, n, got)
		}
		if c > 0 && int64(directMin<<(c-1)) >= n {
			t.Errorf("class %d for %d bytes: class %d would do", c, n, c-1)
		}
	}
}

// TestLoadDirectRanges loads ranges of a pack at unaligned offsets,
// through the O_DIRECT path where the range is long enough, and compares
// them with the file; the reader lends its bytes (NextBytes) when the
// temporary directory's file system takes O_DIRECT, seeks and reads
// like the buffered path's *io.SectionReader, and fn's error comes back
// unchanged.
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
	direct := 0
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
				direct++
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
	t.Logf("%d ranges read with O_DIRECT", direct)

	// Without the mark: the page cache, a plain *io.SectionReader.
	if err := be.Load(context.Background(), h, 2<<20, 5, func(rd io.Reader) error {
		if _, ok := rd.(*io.SectionReader); !ok {
			t.Errorf("unmarked load: reader %T, want *io.SectionReader", rd)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
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
}

func prefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
