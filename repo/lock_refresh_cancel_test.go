package repo_test

import (
	"context"
	"testing"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// TestLockRefreshCancelledLeavesNoFile: a signal that cancels the command
// just after a refresh stored the lock's new file (prune refreshes its lock
// at start, to read the storage's clock) must not leave the old file
// behind. The local backend refuses a Remove under a cancelled context, and
// the old file stayed: a live-looking "prune" lock after prune exited 143
// (make crash's signal campaign, trial 2: SIGTERM after 301 ms).
func TestLockRefreshCancelledLeavesNoFile(t *testing.T) {
	be, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fb := faulty.New(be)
	r := repotest.InitIn(t, fb, repotest.Options(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lk, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune"})
	if err != nil {
		t.Fatal(err)
	}
	fb.SetSaveErrAfter(func(h backend.Handle) error {
		if h.Type == backend.LockFile {
			cancel() // the signal, right after the new file was stored
		}
		return nil
	})
	err = lk.Refresh(ctx)
	fb.SetSaveErrAfter(nil)
	t.Logf("refresh under a cancelled context: %v", err)
	if err := lk.Unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	locks, err := r.Locks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range locks {
		t.Errorf("lock file %s (%s) left after Unlock", l.File().Short(), l.Purpose)
	}
}
