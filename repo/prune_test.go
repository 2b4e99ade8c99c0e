package repo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// smallPackRepo is a local repository with 1 MiB packs (about three
// 300 KiB single-blob files per pack).
func smallPackRepo(t *testing.T) *repo.Repository {
	t.Helper()
	opts := repotest.Options(t)
	opts.PackSize = 1 << 20
	lb, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return repotest.InitIn(t, lb, opts)
}

func mustWrite(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// randTree writes n files of 300 KiB with contents from seed.
func randTree(t *testing.T, n int, seed uint64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), fmt.Sprintf("src%d", seed))
	files := map[string]string{}
	for i := range n {
		files[fmt.Sprintf("f%02d.bin", i)] = string(repotest.RandBytes(seed*1000+uint64(i), 300<<10))
	}
	repotest.WriteFiles(t, dir, files)
	return dir
}

func mustCheck(t *testing.T, r *repo.Repository) *repo.CheckResult {
	t.Helper()
	res, err := r.Check(context.Background(), repo.CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("check: problems %v, damaged %v", res.Problems, res.Damaged)
	}
	return res
}

func restoreEquals(t *testing.T, r *repo.Repository, sn *repo.Snapshot, src string) {
	t.Helper()
	target := t.TempDir()
	repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	repotest.DiffTrees(t, repotest.ReadTree(t, src), repotest.ReadTree(t, target))
}

func packCount(t *testing.T, r *repo.Repository) int {
	n := 0
	if err := r.Backend().List(context.Background(), backend.PackFile, func(backend.FileInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPruneRemovesAndRepacks(t *testing.T) {
	ctx := context.Background()
	r := smallPackRepo(t)
	a, b := randTree(t, 6, 1), randTree(t, 6, 2)
	// Interleave: one backup holding both halves spreads A and B over shared packs.
	both := t.TempDir()
	for _, d := range []string{a, b} {
		es, _ := os.ReadDir(d)
		for i, e := range es {
			if i%2 == 0 {
				data, _ := os.ReadFile(filepath.Join(d, e.Name()))
				mustWrite(t, filepath.Join(both, filepath.Base(d)+e.Name()), data)
			}
		}
	}
	snA := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{a}})
	snBoth := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{both}})
	snB := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{b}})
	if err := r.RemoveSnapshots(ctx, []*repo.Snapshot{snA, snBoth}); err != nil {
		t.Fatal(err)
	}
	before := packCount(t, r)
	dry, err := r.Prune(ctx, repo.PruneOptions{DryRun: true, MaxUnusedPercent: -1})
	if err != nil {
		t.Fatal(err)
	}
	if dry.UnusedBlobs == 0 || dry.CondemnedPacks == 0 || packCount(t, r) != before {
		t.Fatalf("dry run: %+v; packs %d -> %d", dry, before, packCount(t, r))
	}
	res, err := r.Prune(ctx, repo.PruneOptions{MaxUnusedPercent: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedPacks == 0 || res.FreedBytes == 0 || res.DeferredPacks != 0 {
		t.Fatalf("prune without concurrent writers must delete at once: %+v", res)
	}
	mustCheck(t, r)
	restoreEquals(t, r, snB, b)
	again, err := r.Prune(ctx, repo.PruneOptions{DryRun: true, MaxUnusedPercent: -1})
	if err != nil {
		t.Fatal(err)
	}
	if again.UnusedBlobs != 0 || again.CondemnedPacks != 0 {
		t.Fatalf("after prune: %d unused blobs, %d packs to condemn", again.UnusedBlobs, again.CondemnedPacks)
	}
	// Reopening (fresh cache sync) still restores.
	r2 := repotest.Reopen(t, r.Backend(), repotest.Options(t))
	restoreEquals(t, r2, snB, b)
	// Everything forgotten: prune empties the repository.
	if err := r.RemoveSnapshots(ctx, []*repo.Snapshot{snB}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx, repo.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := packCount(t, r); n != 0 {
		t.Fatalf("%d packs left with no snapshot", n)
	}
}

// A backup that started before prune condemned a pack deduplicates against
// it; the deletion waits for that backup, and the next prune keeps the pack
// because the backup's snapshot uses it.
func TestPruneRescuesBlobsOfEarlierWriter(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src := randTree(t, 3, 3)
	sn1 := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	if err := r.RemoveSnapshots(ctx, []*repo.Snapshot{sn1}); err != nil {
		t.Fatal(err)
	}
	// The backup takes its lock (its cache knows every blob of src).
	w := repotest.Reopen(t, r.Backend(), repotest.Options(t))
	lk, err := w.LockForWrite(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Prune(ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.CondemnedPacks == 0 || res.DeletedPacks != 0 || res.DeferredPacks == 0 {
		t.Fatalf("prune beside a running backup must condemn and defer: %+v", res)
	}
	mustCheck(t, r) // condemned packs stay indexed
	sn2 := repotest.Backup(t, w, archiver.BackupOptions{Paths: []string{src}})
	if sn2.Summary.DataBlobs != 0 {
		t.Fatalf("the early backup stored %d blobs; it should have deduplicated (test premise)", sn2.Summary.DataBlobs)
	}
	lk.Unlock()
	res, err = r.Prune(ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.RescuedPacks == 0 || res.DeletedPacks != 0 {
		t.Fatalf("second prune must rescue the packs the new snapshot uses: %+v", res)
	}
	mustCheck(t, r)
	restoreEquals(t, repotest.Reopen(t, r.Backend(), repotest.Options(t)), sn2, src)
	if pend, _ := r.PendingDeletions(ctx); len(pend) != 0 {
		t.Fatalf("%d pending records left", len(pend))
	}
}

// A backup that starts after the record exists stores condemned blobs again.
func TestPruneLaterWriterStoresAgain(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src := randTree(t, 3, 4)
	sn1 := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	if err := r.RemoveSnapshots(ctx, []*repo.Snapshot{sn1}); err != nil {
		t.Fatal(err)
	}
	other, err := r.Lock(ctx, repo.LockOptions{Purpose: "backup", Host: "other-host"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Prune(ctx, repo.PruneOptions{})
	if err != nil || res.DeferredPacks == 0 {
		t.Fatalf("prune: %+v, %v", res, err)
	}
	w := repotest.Reopen(t, r.Backend(), repo.Options{CacheDir: r.Config().ID + "-unused", KDF: repotest.KDF, NoCache: true})
	lk, err := w.LockForWrite(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	sn2 := repotest.Backup(t, w, archiver.BackupOptions{Paths: []string{src}})
	lk.Unlock()
	if sn2.Summary.DataBlobs != 3 {
		t.Fatalf("backup after the record stored %d blobs, want 3 (condemned copies must not be used)", sn2.Summary.DataBlobs)
	}
	other.Unlock()
	res, err = r.Prune(ctx, repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedPacks == 0 || res.RescuedPacks != 0 {
		t.Fatalf("prune after the writers ended: %+v", res)
	}
	mustCheck(t, r)
	restoreEquals(t, repotest.Reopen(t, r.Backend(), repotest.Options(t)), sn2, src)
}

// Two writers and a pruner, each with its own Repository (as separate
// processes would), running at the same time.
func TestPruneBesideConcurrentBackups(t *testing.T) {
	ctx := context.Background()
	r, _ := repotest.NewLocal(t)
	be := r.Backend()
	srcs := [][]string{{randTree(t, 4, 10), randTree(t, 4, 11)}, {randTree(t, 4, 12), randTree(t, 4, 13)}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	snaps := make([][]*repo.Snapshot, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr, err := repo.Open(ctx, be, repotest.Password, repotest.Options(t))
			if err != nil {
				errs <- err
				return
			}
			defer wr.Close()
			for round := range 4 {
				lk, err := wr.LockForWrite(ctx, "backup")
				if err != nil {
					errs <- err
					return
				}
				sn, err := archiver.Backup(lk.Context(), wr, archiver.BackupOptions{Paths: []string{srcs[w][round%2]}, Host: fmt.Sprint("w", w)})
				lk.Unlock()
				if err != nil {
					errs <- err
					return
				}
				snaps[w] = append(snaps[w], sn)
				// Forget the older snapshots of this writer now and then.
				if round == 2 {
					if err := wr.RemoveSnapshots(ctx, snaps[w][:1]); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		pr, err := repo.Open(ctx, be, repotest.Password, repotest.Options(t))
		if err != nil {
			errs <- err
			return
		}
		defer pr.Close()
		for range 6 {
			if _, err := pr.Prune(ctx, repo.PruneOptions{MaxUnusedPercent: -1}); err != nil {
				errs <- fmt.Errorf("prune: %w", err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final := repotest.Reopen(t, be, repotest.Options(t))
	if _, err := final.Prune(ctx, repo.PruneOptions{MaxUnusedPercent: -1}); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, final)
	for w := range 2 {
		for i, sn := range snaps[w] {
			if w >= 0 && i == 0 {
				continue // forgotten
			}
			restoreEquals(t, final, sn, srcs[w][i%2])
		}
	}
}
