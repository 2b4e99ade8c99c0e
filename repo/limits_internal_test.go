package repo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

// lyingStat is a backend whose Stat understates every size, as an S3
// server (or a proxy) may: the read limit must hold anyway.
type lyingStat struct{ backend.Backend }

func (l lyingStat) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	fi, err := l.Backend.Stat(ctx, h)
	fi.Size = 1
	return fi, err
}

// countingLoad counts the bytes the reader handed to Load's callback
// actually delivered.
type countingLoad struct {
	backend.Backend
	n int64
}

func (c *countingLoad) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	return c.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error {
		return fn(&countReader{rd, &c.n})
	})
}

type countReader struct {
	r io.Reader
	n *int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

func TestLoadBounded(t *testing.T) {
	ctx := context.Background()
	m := mem.New()
	h := backend.Handle{Type: backend.KeyFile, Name: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	big := bytes.Repeat([]byte{'x'}, MaxKeyFile*4)
	if err := m.Save(ctx, h, backend.NewByteReader(big)); err != nil {
		t.Fatal(err)
	}
	// Refused by size, unread.
	c := &countingLoad{Backend: m}
	if _, err := loadBounded(ctx, c, h); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("oversized key file: err %v, want ErrTooLarge", err)
	}
	if c.n != 0 {
		t.Fatalf("an oversized file was read (%d bytes) before it was refused", c.n)
	}
	// Stat lies: the read stops one byte past the limit.
	c = &countingLoad{Backend: lyingStat{m}}
	if _, err := loadBounded(ctx, c, h); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized key file behind a lying Stat: err %v, want ErrTooLarge", err)
	}
	if c.n > MaxKeyFile+1 {
		t.Fatalf("read %d bytes of a file whose limit is %d", c.n, MaxKeyFile)
	}
	// At the limit: read whole.
	ok := big[:MaxKeyFile]
	h.Name = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := m.Save(ctx, h, backend.NewByteReader(ok)); err != nil {
		t.Fatal(err)
	}
	for _, be := range []backend.Backend{m, lyingStat{m}} {
		b, err := loadBounded(ctx, be, h)
		if err != nil || !bytes.Equal(b, ok) {
			t.Fatalf("file at the limit: %d bytes, %v", len(b), err)
		}
	}
}

// Writers refuse what readers would refuse.
func TestSaveHashedRefusesOversized(t *testing.T) {
	r := newTestRepo(t)
	plain := bytes.Repeat([]byte{0}, 1<<20) // compresses far below the limit
	if _, err := r.saveHashed(context.Background(), backend.SnapshotFile, plain); err != nil {
		t.Fatalf("1 MiB of zeros: %v", err)
	}
	if err := checkSealedSize(backend.SnapshotFile, make([]byte, MaxSnapshotFile+1)); err == nil {
		t.Fatal("a sealed snapshot above the limit was accepted")
	}
	if _, err := r.saveHashed(context.Background(), backend.IndexFile, make([]byte, MaxSealedPlaintext+1)); err == nil {
		t.Fatal("a plaintext above the limit was accepted")
	}
}
