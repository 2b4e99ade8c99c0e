package repo_test

import (
	"context"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// TestPruneSplitsIndexFiles: prune rewrites the index files that list
// deleted packs into files of bounded size. It used to merge them all into
// one, which at a few million blobs exceeds the 256 MiB limit of an index
// file (docs/FORMAT.md §11.5) that writers refuse to exceed: prune failed.
// Here the bound is lowered to a few entries.
func TestPruneSplitsIndexFiles(t *testing.T) {
	ctx := context.Background()
	const limit = 3
	defer repo.SetIndexFileEntriesForTest(limit)()
	r := smallPackRepo(t)
	a, b := randTree(t, 12, 11), randTree(t, 12, 12)
	// One backup of both: one index file lists A's and B's packs; B is
	// then kept by a snapshot of its own (no new pack).
	snAB := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{a, b}})
	snB := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{b}})
	if err := r.RemoveSnapshots(ctx, []*repo.Snapshot{snAB}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Prune(ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedIndex == 0 {
		t.Fatalf("prune rewrote no index file: %+v", res)
	}
	var files, bigger int
	err = r.Backend().List(ctx, backend.IndexFile, func(fi backend.FileInfo) error {
		id, err := crypto.ParseID(fi.Name)
		if err != nil {
			return err
		}
		f, err := r.LoadIndexFile(ctx, id)
		if err != nil {
			return err
		}
		files++
		n := 0
		for _, p := range f.Packs {
			n += len(p.Entries)
		}
		// A file holds more than the bound only if it lists one pack.
		if n > limit && len(f.Packs) > 1 {
			bigger++
			t.Errorf("index file %s: %d packs, %d entries (bound %d)", id.Short(), len(f.Packs), n, limit)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d index files after prune; %+v", files, res)
	mustCheck(t, r)
	restoreEquals(t, r, snB, b)
}
