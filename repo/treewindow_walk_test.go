package repo_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// TestTreeWindowWholeWalkReadsTreesOnce: a restore walks every tree of a
// snapshot whose trees fill many windows. The tree windows must read each
// byte of the tree packs about once. A window used to reach back a whole
// window size from every tree it was read for, over the bytes of the
// windows already read for the subtrees before it: a restore of 150,000
// files read 26 GB for 57 MB of trees (2.5x slower than before the
// windows, 40 % of its CPU in the garbage collector). The files are
// empty, so every pack read is a read of trees.
func TestTreeWindowWholeWalkReadsTreesOnce(t *testing.T) {
	defer repo.SetTreeWindows(1<<10, 4<<10, 64<<10)()
	fb := faulty.New(mem.New())
	r := repotest.InitIn(t, fb, repotest.Options(t))
	src := t.TempDir()
	for d := range 40 {
		dir := filepath.Join(src, fmt.Sprintf("%02x", d/10*7), fmt.Sprintf("%02x", d%10*13)) // thumbs/ID/xx/yy
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 50 {
			name := fmt.Sprintf("%08x-%04d-thumbnail.webp", uint32(d)*2654435761+uint32(f)*40503, f)
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	var mu sync.Mutex
	packs := map[string]bool{}
	var read int64
	fb.SetLoadWrap(func(h backend.Handle, rd io.Reader) io.Reader {
		if h.Type != backend.PackFile {
			return rd
		}
		mu.Lock()
		packs[h.Name] = true
		mu.Unlock()
		return countReader{rd, &mu, &read}
	})
	r2 := repotest.Reopen(t, fb, repotest.Options(t)) // an empty cache
	target := t.TempDir()
	res := repotest.Restore(t, r2, sn, restorer.RestoreOptions{Target: target})
	fb.SetLoadWrap(nil)
	if res.Files != 2000 {
		t.Fatalf("restored %d files, want 2000", res.Files)
	}
	var stored int64
	for name := range packs {
		fi, err := fb.Stat(t.Context(), backend.Handle{Type: backend.PackFile, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		stored += fi.Size
	}
	t.Logf("%d tree packs of %d bytes, %d bytes read", len(packs), stored, read)
	if stored < 6*4<<10 {
		t.Fatalf("the trees take %d bytes, not several windows: the test does not test the windows", stored)
	}
	if read > stored*5/4 {
		t.Errorf("the restore read %d bytes of tree packs holding %d (%.1fx), want each byte read about once", read, stored, float64(read)/float64(stored))
	}
}

type countReader struct {
	rd io.Reader
	mu *sync.Mutex
	n  *int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.rd.Read(p)
	c.mu.Lock()
	*c.n += int64(n)
	c.mu.Unlock()
	return n, err
}
