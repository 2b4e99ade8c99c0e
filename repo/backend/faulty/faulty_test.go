package faulty_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

var errInjected = errors.New("injected")

// Without hooks, Faulty is a transparent Backend.
func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return faulty.New(mem.New()) })
}

func setup(t *testing.T) (*faulty.Faulty, *mem.Mem) {
	t.Helper()
	m := mem.New()
	f := faulty.New(m)
	if err := f.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f, m
}

func h(i int) backend.Handle {
	return backend.Handle{Type: backend.PackFile, Name: backendtest.Name(uint64(i))}
}

func saveBytes(f backend.Backend, hd backend.Handle, b []byte) error {
	return f.Save(context.Background(), hd, backend.NewByteReader(b))
}

func TestSaveErrNth(t *testing.T) {
	f, m := setup(t)
	f.SetSaveErr(faulty.Nth[backend.Handle](2, errInjected))
	for i := 1; i <= 4; i++ {
		err := saveBytes(f, h(i), []byte{byte(i)})
		if (i == 2) != errors.Is(err, errInjected) {
			t.Fatalf("Save #%d: %v", i, err)
		}
		_, serr := m.Stat(context.Background(), h(i))
		if (i == 2) != errors.Is(serr, backend.ErrNotFound) {
			t.Fatalf("after Save #%d, inner Stat: %v", i, serr)
		}
	}
	if got := f.Calls(faulty.OpSave); got != 4 {
		t.Fatalf("Calls(save) = %d, want 4", got)
	}
}

func TestSaveErrAfterStores(t *testing.T) {
	f, m := setup(t)
	f.SetSaveErrAfter(faulty.Always[backend.Handle](errInjected))
	if err := saveBytes(f, h(1), []byte("x")); !errors.Is(err, errInjected) {
		t.Fatalf("Save: %v", err)
	}
	if _, err := m.Stat(context.Background(), h(1)); err != nil {
		t.Fatalf("file should be stored despite the error: %v", err)
	}
	// The inner error wins when the inner Save fails.
	if err := saveBytes(f, h(1), []byte("x")); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("second Save: %v, want ErrExists", err)
	}
}

func TestAfterAndForType(t *testing.T) {
	f, _ := setup(t)
	f.SetSaveErr(faulty.After[backend.Handle](2, backend.ErrNoSpace))
	var errs []bool
	for i := range 4 {
		errs = append(errs, saveBytes(f, h(i), nil) != nil)
	}
	if want := []bool{false, false, true, true}; !equal(errs, want) {
		t.Fatalf("failures %v, want %v", errs, want)
	}
	f.Reset()
	f.SetRemoveErr(faulty.ForType(backend.IndexFile, errInjected))
	ctx := context.Background()
	if err := f.Remove(ctx, h(0)); err != nil {
		t.Fatalf("Remove pack: %v", err)
	}
	if err := f.Remove(ctx, backend.Handle{Type: backend.IndexFile, Name: "ab"}); !errors.Is(err, errInjected) {
		t.Fatalf("Remove index: %v", err)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadErrAndShortRead(t *testing.T) {
	f, _ := setup(t)
	ctx := context.Background()
	data := backendtest.Data(1, 1000)
	if err := saveBytes(f, h(1), data); err != nil {
		t.Fatal(err)
	}
	f.SetLoadErr(faulty.Nth[backend.Handle](1, errInjected))
	called := false
	err := f.Load(ctx, h(1), 0, 0, func(io.Reader) error { called = true; return nil })
	if !errors.Is(err, errInjected) || called {
		t.Fatalf("Load = %v (fn called %v), want injected error and no call", err, called)
	}
	f.SetLoadErr(nil)

	f.SetShortRead(func(backend.Handle) int64 { return 10 })
	got, err := backend.LoadAll(ctx, f, h(1))
	if err != nil {
		t.Fatalf("short Load: %v", err)
	}
	if !bytes.Equal(got, data[:10]) {
		t.Fatalf("short read gave %d bytes, want the first 10", len(got))
	}
	f.SetShortRead(func(backend.Handle) int64 { return -1 })
	if got, _ := backend.LoadAll(ctx, f, h(1)); !bytes.Equal(got, data) {
		t.Fatalf("n=-1 should not truncate, got %d bytes", len(got))
	}
}

type flipReader struct{ r io.Reader }

func (fr flipReader) Read(p []byte) (int, error) {
	n, err := fr.r.Read(p)
	for i := range p[:n] {
		p[i] ^= 0xff
	}
	return n, err
}

func TestLoadWrap(t *testing.T) {
	f, _ := setup(t)
	if err := saveBytes(f, h(1), []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	f.SetLoadWrap(func(_ backend.Handle, rd io.Reader) io.Reader { return flipReader{rd} })
	got, err := backend.LoadAll(context.Background(), f, h(1))
	if err != nil || !bytes.Equal(got, []byte{0xfe, 0xfd, 0xfc}) {
		t.Fatalf("LoadAll = %x, %v", got, err)
	}
}

func TestStatListErr(t *testing.T) {
	f, _ := setup(t)
	ctx := context.Background()
	f.SetStatErr(faulty.Always[backend.Handle](errInjected))
	if _, err := f.Stat(ctx, h(1)); !errors.Is(err, errInjected) {
		t.Fatalf("Stat: %v", err)
	}
	f.SetListErr(func(ft backend.FileType) error {
		if ft == backend.LockFile {
			return errInjected
		}
		return nil
	})
	if err := f.List(ctx, backend.LockFile, func(backend.FileInfo) error { return nil }); !errors.Is(err, errInjected) {
		t.Fatalf("List locks: %v", err)
	}
	if err := f.List(ctx, backend.PackFile, func(backend.FileInfo) error { return nil }); err != nil {
		t.Fatalf("List packs: %v", err)
	}
}

func TestDelay(t *testing.T) {
	f, _ := setup(t)
	f.SetDelay(30 * time.Millisecond)
	start := time.Now()
	if _, err := f.Stat(context.Background(), h(1)); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Stat took %v, want >= 30ms", d)
	}
	f.SetDelay(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := f.Save(ctx, h(1), backend.NewByteReader(nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed Save with expiring ctx: %v, want DeadlineExceeded", err)
	}
}
