package repo

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

// TestEarlySnapshotListingNotUsedUnderLock: Open lists the snapshots
// early (a non-local backend); a snapshot saved by another process after
// that listing, before this one takes its lock, must be in the first
// listing taken under the lock. Prune depends on it (it lists after its
// exclusive lock); with the early listing it missed the snapshot and
// condemned its packs as unused.
func TestEarlySnapshotListingNotUsedUnderLock(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	opts := Options{CacheDir: t.TempDir(), KDF: testKDF}
	r0, err := Init(ctx, be, []byte("pw"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r0.Close()
	r1, err := Open(ctx, be, []byte("pw"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	if r1.earlySnaps == nil {
		t.Fatal("Open took no early snapshot listing on the mem backend: the test tests nothing")
	}
	<-r1.earlySnaps.done // the early listing is complete (and empty)

	id, err := r0.SaveSnapshot(ctx, &Snapshot{Time: time.Now(), Host: "other-container", Paths: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	lk, err := r1.Lock(ctx, LockOptions{Exclusive: true, Purpose: "prune"})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	ids, err := r1.SnapshotIDs(lk.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, id) {
		t.Fatalf("the first listing under the exclusive lock misses snapshot %s saved before the lock: %v", id.Short(), ids)
	}
}
