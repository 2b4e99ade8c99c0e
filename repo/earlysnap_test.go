package repo_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// TestEarlySnapshotListing: Open lists the snapshots while it derives the
// key (issue 14: one round trip less on S3), and the first listing after
// it is that one, not a second request; once the Repository has saved a
// snapshot, listings are fresh and show it.
func TestEarlySnapshotListing(t *testing.T) {
	ctx := context.Background()
	fb := faulty.New(mem.New())
	r := repotest.InitIn(t, fb, repotest.Options(t))
	src := t.TempDir()
	repotest.WriteFiles(t, src, map[string]string{"a.txt": "a"})
	first := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	var lists atomic.Int64
	fb.SetListErr(func(ft backend.FileType) error {
		if ft == backend.SnapshotFile {
			lists.Add(1)
		}
		return nil
	})
	r2 := repotest.Reopen(t, fb, repotest.Options(t))
	// The listing runs in the background: wait for it (generously, for a
	// loaded machine) before asking for the snapshots.
	for deadline := time.Now().Add(time.Minute); lists.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Open did not list the snapshots within a minute")
		}
	}
	all, err := r2.Snapshots(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID() != first.ID() {
		t.Fatalf("snapshots after open: %v, want [%s]", all, first.ID().Short())
	}
	if n := lists.Load(); n != 1 {
		t.Errorf("open and a listing sent %d snapshot listings, want 1 (the one of Open)", n)
	}
	// A backup through a Repository whose early listing is still unused:
	// the listing after it must show the new snapshot.
	r3 := repotest.Reopen(t, fb, repotest.Options(t))
	repotest.WriteFiles(t, src, map[string]string{"b.txt": "b"})
	second := repotest.Backup(t, r3, archiver.BackupOptions{Paths: []string{src}, Parent: first})
	all, err = r3.Snapshots(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[1].ID() != second.ID() {
		t.Fatalf("snapshots after a backup: %d, want 2 with %s last", len(all), second.ID().Short())
	}
}
