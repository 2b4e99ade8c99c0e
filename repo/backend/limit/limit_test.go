package limit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
	"github.com/immich-vault/immich-vault/repo/backend/limit"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return limit.New(mem.New(), 1<<20, 1<<20) })
}

func TestUnlimitedIsIdentity(t *testing.T) {
	m := mem.New()
	if limit.New(m, 0, 0) != backend.Backend(m) {
		t.Fatal("New with no limits must return the backend itself")
	}
}

func TestRates(t *testing.T) {
	const rateKiB = 512 // burst is a quarter second: 128 KiB
	data := backendtest.Data(1, 384<<10)
	h := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(1)}
	ctx := context.Background()

	be := limit.New(mem.New(), rateKiB, 0)
	start := time.Now()
	if err := be.Save(ctx, h, backend.NewByteReader(data)); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	// (384-128) KiB at 512 KiB/s: 0.5 s.
	if up < 400*time.Millisecond || up > 3*time.Second {
		t.Fatalf("384 KiB upload at 512 KiB/s took %v, want about 0.5 s", up)
	}
	start = time.Now()
	got, err := backend.LoadAll(ctx, be, h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("load: %v", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("unlimited download took %v", d)
	}

	be2 := limit.New(mem.New(), 0, rateKiB)
	if err := be2.Save(ctx, h, backend.NewByteReader(data)); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := be2.Load(ctx, h, 0, 0, func(rd io.Reader) error { _, err := io.Copy(io.Discard, rd); return err }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("384 KiB download at 512 KiB/s took %v, want about 0.5 s", d)
	}
}

func TestCanceledWait(t *testing.T) {
	l := limit.NewLimiter(1 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_ = l.Wait(ctx, 32<<10) // drains the burst
	start := time.Now()
	if err := l.Wait(ctx, 32<<10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want DeadlineExceeded", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Wait ignored the context")
	}
}
