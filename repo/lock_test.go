package repo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

func TestLockExclusiveConflicts(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	// Shared locks never conflict, with each other or with an exclusive one.
	s1, err := r.Lock(ctx, repo.LockOptions{Purpose: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r.Lock(ctx, repo.LockOptions{Purpose: "backup", Host: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune"})
	if err != nil {
		t.Fatalf("exclusive beside shared locks: %v", err)
	}
	if _, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune", Host: "elsewhere"}); !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("second exclusive lock: %v, want ErrLocked", err)
	}
	if s3, err := r.Lock(ctx, repo.LockOptions{Purpose: "backup"}); err != nil {
		t.Fatalf("shared beside exclusive: %v", err)
	} else {
		s3.Unlock()
	}
	locks, err := r.Locks(ctx)
	if err != nil || len(locks) != 3 {
		t.Fatalf("%d locks (%v), want 3 (the refused one removed its file)", len(locks), err)
	}
	for _, l := range []*repo.Lock{s1, s2, ex} {
		if err := l.Unlock(); err != nil {
			t.Fatal(err)
		}
		l.Unlock() // twice is fine
	}
	if locks, _ := r.Locks(ctx); len(locks) != 0 {
		t.Fatalf("%d locks left after Unlock", len(locks))
	}
}

func TestLockStaleNeverBlocks(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	// A crashed prune on this host: its pid does not exist.
	dead, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune", PID: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Unlock()
	info := dead.Info()
	if !info.Stale(time.Now(), info.Host) {
		t.Fatal("lock of a dead pid on this host is not stale")
	}
	if info.Stale(time.Now(), "another-host") {
		t.Fatal("fresh lock seen from another host is stale")
	}
	if !info.Stale(time.Now().Add(repo.LockStaleTimeout+time.Minute), "another-host") {
		t.Fatal("lock not refreshed for the timeout is not stale")
	}
	ex, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune"})
	if err != nil {
		t.Fatalf("a stale exclusive lock blocked: %v", err)
	}
	ex.Unlock()
	n, err := r.RemoveStaleLocks(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleLocks = %d, %v; want 1", n, err)
	}
}

func TestLockRefresh(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	l, err := r.Lock(ctx, repo.LockOptions{Purpose: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	before := l.Info()
	time.Sleep(10 * time.Millisecond)
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	after := l.Info()
	if after.File() == before.File() || !after.Refreshed.After(before.Refreshed) || after.Session != before.Session {
		t.Fatalf("refresh: file %s -> %s, time %v -> %v", before.File(), after.File(), before.Refreshed, after.Refreshed)
	}
	locks, _ := r.Locks(ctx)
	if len(locks) != 1 || locks[0].File() != after.File() {
		t.Fatalf("after refresh %d lock files, want only the new one", len(locks))
	}
}
