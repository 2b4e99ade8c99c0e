package restorer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// siblingDirs: n directories side by side, one small file in each (as
// Immich's thumbnail folders).
func siblingDirs(n int) map[string]string {
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("thumbs/%02x/%d.webp", i, i)] = fmt.Sprintf("thumbnail %d", i)
	}
	return files
}

// The trees of sibling directories, stored one after another by the
// backup, are read with one backend request per run instead of one each:
// restoring 60 sibling directories made at least 60 tree loads before.
func TestRestoreSiblingTreesFewRequests(t *testing.T) {
	fb := faulty.New(mem.New())
	r := repotest.InitIn(t, fb, repotest.Options(t))
	src := filepath.Join(t.TempDir(), "src")
	files := siblingDirs(60)
	repotest.WriteFiles(t, src, files)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	before := fb.Calls(faulty.OpLoad)
	target := t.TempDir()
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	loads := fb.Calls(faulty.OpLoad) - before
	if res.Files != 60 || res.Errors != 0 {
		t.Fatalf("restore result %+v", res)
	}
	got := repotest.ReadTree(t, target)
	for name, content := range files {
		if got[name] != content {
			t.Errorf("%s: %q, want %q", name, got[name], content)
		}
	}
	if loads >= 30 {
		t.Errorf("%d backend loads for 60 sibling directories; want their trees read in a few requests", loads)
	}
	t.Logf("%d backend loads", loads)
}

// A damaged tree among siblings read together: that directory is
// reported damaged, its siblings are restored.
func TestRestoreSiblingTreesOneDamaged(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.NewLocal(t)
	src := filepath.Join(t.TempDir(), "src")
	files := siblingDirs(20)
	repotest.WriteFiles(t, src, files)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	bad := repotest.Subtree(t, r, sn, src+"/thumbs/07")
	damageBlob(t, r, dir, pack.BlobHandle{ID: bad, Type: pack.TreeBlob})
	// A fresh open: this one still holds the backup's and the lookup's
	// trees (and the pack windows they came in) in memory, read before
	// the damage, and would restore from them.
	r = repotest.Reopen(t, r.Backend(), repotest.Options(t))
	target := t.TempDir()
	var mu sync.Mutex
	var warned []string
	res, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: src,
		Warn: func(p string, err error) {
			mu.Lock()
			warned = append(warned, p+": "+err.Error())
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.ToSlash(filepath.Join(src, "thumbs/07"))
	if !slices.Equal(res.Damaged, []string{want}) || res.Files != 19 {
		t.Fatalf("Damaged %v, files %d (warnings %q); want [%s], 19", res.Damaged, res.Files, warned, want)
	}
	got := repotest.ReadTree(t, target)
	for name, content := range files {
		if name == "thumbs/07/7.webp" {
			continue
		}
		if got[name] != content {
			t.Errorf("%s: %q, want %q", name, got[name], content)
		}
	}
}
