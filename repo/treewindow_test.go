package repo_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// TestTreeWindowDeepPath: resolving a file eight directories down (plus
// the source's own absolute path) with an empty cache reads the trees of
// the path with one range read of their pack, not one per level: each
// read is a round trip on S3 (issue 14). The nodes found are the same,
// and a window read that fails falls back to loading the tree alone.
func TestTreeWindowDeepPath(t *testing.T) {
	ctx := context.Background()
	fb := faulty.New(mem.New())
	r := repotest.InitIn(t, fb, repotest.Options(t))
	src := t.TempDir()
	deep := filepath.Join("a", "b", "c", "d", "e", "f", "g", "h")
	repotest.WriteFiles(t, src, map[string]string{
		filepath.Join(deep, "IMG_1.jpg"): strings.Repeat("photo ", 1000),
		filepath.Join("a", "side.txt"):   "side",
	})
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	depth := strings.Count(filepath.ToSlash(filepath.Join(src, deep)), "/")

	var packLoads atomic.Int64
	fb.SetLoadWrap(func(h backend.Handle, rd io.Reader) io.Reader {
		if h.Type == backend.PackFile {
			packLoads.Add(1)
		}
		return rd
	})
	for _, failFirst := range []bool{false, true} {
		r2 := repotest.Reopen(t, fb, repotest.Options(t)) // an empty cache
		if err := r2.SyncIndex(ctx); err != nil {
			t.Fatal(err)
		}
		sn2, err := r2.LoadSnapshot(ctx, sn.ID())
		if err != nil {
			t.Fatal(err)
		}
		if failFirst {
			fb.SetLoadErr(faulty.Nth[backend.Handle](1, errors.New("injected: connection reset")))
		}
		packLoads.Store(0)
		p := filepath.ToSlash(filepath.Join(src, deep, "IMG_1.jpg"))
		n, err := r2.FindNode(ctx, sn2, p)
		fb.SetLoadErr(nil)
		if err != nil {
			t.Fatalf("failFirst=%v: FindNode %s: %v", failFirst, p, err)
		}
		if n == nil || n.Name != "IMG_1.jpg" || n.Size != 6000 {
			t.Fatalf("failFirst=%v: FindNode %s gave %+v", failFirst, p, n)
		}
		got := packLoads.Load()
		t.Logf("failFirst=%v: %d directory levels, %d pack reads", failFirst, depth, got)
		if !failFirst && got != 1 {
			t.Errorf("%d directory levels resolved with %d pack reads, want 1 (one window of the tree pack)", depth, got)
		}
		if failFirst && got > 3 {
			t.Errorf("after a failed window read: %d pack reads, want at most 3 (the failed window, the tree alone, the next window)", got)
		}
	}
}
