package limit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
	"github.com/immich-vault/immich-vault/repo/backend/limit"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/backend/retry"
)

func newLocal(t *testing.T) (*local.Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l, dir
}

// backend.As finds a capability through the decorators; a limit over a
// spooling backend is itself the Spooler (it paces the commits).
func TestAsThroughDecorators(t *testing.T) {
	l, _ := newLocal(t)
	lim := limit.New(l, 512, 0)
	chain := retry.New(lim, retry.Options{})
	sp, ok := backend.As[backend.Spooler](chain)
	if !ok {
		t.Fatal("no Spooler found through retry → limit → local")
	}
	if sp != lim.(backend.Spooler) {
		t.Fatalf("As returned %T, want the limit's own Spooler (it must see the commits)", sp)
	}
	if got, ok := backend.As[*local.Local](chain); !ok || got != l {
		t.Fatalf("As[*local.Local] = %v, %v", got, ok)
	}
	if _, ok := backend.As[backend.Spooler](retry.New(limit.New(mem.New(), 512, 0), retry.Options{})); ok {
		t.Fatal("a Spooler found over mem, which has none")
	}
	if _, ok := backend.As[backend.Spooler](limit.New(mem.New(), 512, 0)); ok {
		t.Fatal("limit over mem claims to spool")
	}
}

// A spooled file committed through the limit is paced like a Save: 384 KiB
// at 512 KiB/s (128 KiB burst) takes at least about 0.5 s. A cancelled
// commit removes the temporary file.
func TestSpooledCommitIsPaced(t *testing.T) {
	l, dir := newLocal(t)
	be := limit.New(l, 512, 0)
	sp, ok := backend.As[backend.Spooler](be)
	if !ok {
		t.Fatal("limit over local does not spool")
	}
	ctx := context.Background()
	data := backendtest.Data(2, 384<<10)
	h := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(2)}
	f, err := sp.CreateTemp(backend.PackFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := sp.CommitTemp(ctx, f, h); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("384 KiB committed in %v at 512 KiB/s: the upload limit was not applied", d)
	}
	got, err := backend.LoadAll(ctx, be, h)
	if err != nil || string(got) != string(data) {
		t.Fatalf("load committed file: %d bytes, %v", len(got), err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f, err = sp.CreateTemp(backend.PackFile)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data)
	h3 := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(3)}
	if err := sp.CommitTemp(cctx, f, h3); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled commit: %v", err)
	}
	if _, err := be.Stat(ctx, h3); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("cancelled commit stored the file: %v", err)
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}
