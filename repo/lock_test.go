package repo_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
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
	// A crashed prune of this process's kernel and PID namespace: its pid
	// does not exist.
	dead, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune", PID: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Unlock()
	info := dead.Info()
	self := repo.CurrentLockIdentity()
	if self.Complete() && info.StaleReason(time.Time{}, self) == "" {
		t.Fatal("lock of a dead pid in this PID namespace is not stale")
	}
	if !self.Complete() {
		t.Log("no kernel identity on this system: PID rule not exercised")
	}
	ex, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune"})
	if self.Complete() && err != nil {
		t.Fatalf("a stale exclusive lock blocked: %v", err)
	}
	if err == nil {
		ex.Unlock()
	}
	n, err := r.RemoveStaleLocks(ctx)
	if self.Complete() && (err != nil || n != 1) {
		t.Fatalf("RemoveStaleLocks = %d, %v; want 1", n, err)
	}
}

// The staleness rule (docs/FORMAT.md §10.1): a PID is consulted only when
// boot ID and PID namespace match; otherwise only the file's age on the
// storage's clock counts, never the holder's recorded times.
func TestLockStaleReason(t *testing.T) {
	storageNow := time.Date(2026, 11, 2, 4, 0, 0, 0, time.UTC)
	self := repo.LockIdentity{BootID: "b1", PIDNamespace: "pid:[4026531836]", MachineID: "m1"}
	deadPID := 1 << 30
	cases := []struct {
		name      string
		id        repo.LockIdentity
		pid       int
		refreshed time.Time // the holder's clock
		mtime     time.Time // the storage's clock; zero: unknown
		now       time.Time // the storage's clock; zero: unknown
		stale     bool
	}{
		{"same namespace, dead pid", self, deadPID, storageNow, storageNow, storageNow, true},
		{"same namespace, live pid", self, os.Getpid(), storageNow, storageNow, storageNow, false},
		{"other PID namespace, pid not ours", repo.LockIdentity{BootID: "b1", PIDNamespace: "pid:[4026532999]", MachineID: "m1"}, deadPID, storageNow, storageNow, storageNow, false},
		{"other boot, same namespace inode", repo.LockIdentity{BootID: "b2", PIDNamespace: self.PIDNamespace, MachineID: "m1"}, deadPID, storageNow, storageNow, storageNow, false},
		{"other machine id", repo.LockIdentity{BootID: "b1", PIDNamespace: self.PIDNamespace, MachineID: "m2"}, deadPID, storageNow, storageNow, storageNow, false},
		{"old lock file without identity", repo.LockIdentity{}, deadPID, storageNow, storageNow, storageNow, false},
		{"no identity, 31 min old on the storage", repo.LockIdentity{}, deadPID, storageNow, storageNow.Add(-31 * time.Minute), storageNow, true},
		{"no identity, 29 min old on the storage", repo.LockIdentity{}, deadPID, storageNow, storageNow.Add(-29 * time.Minute), storageNow, false},
		// A dead host whose clock was a year ahead: its refreshed time is
		// in our future, its file 40 minutes old.
		{"dead host, clock ahead", repo.LockIdentity{}, 77, storageNow.AddDate(1, 0, 0), storageNow.Add(-40 * time.Minute), storageNow, true},
		// A live holder whose clock is a year behind: refreshed a year ago
		// by its clock, file stored a minute ago.
		{"live host, clock behind", repo.LockIdentity{}, 77, storageNow.AddDate(-1, 0, 0), storageNow.Add(-time.Minute), storageNow, false},
		{"storage reports no times", repo.LockIdentity{}, 77, storageNow.AddDate(-1, 0, 0), time.Time{}, storageNow, false},
		{"reader does not know the storage's time", repo.LockIdentity{}, 77, storageNow.AddDate(-1, 0, 0), storageNow.AddDate(-1, 0, 0), time.Time{}, false},
	}
	for _, c := range cases {
		l := &repo.LockInfo{Host: "nas", PID: c.pid, Refreshed: c.refreshed, Created: c.refreshed, LockIdentity: c.id}
		repo.SetLockModTimeForTest(l, c.mtime)
		if got := l.StaleReason(c.now, self); (got != "") != c.stale {
			t.Errorf("%s: StaleReason = %q, want stale %v", c.name, got, c.stale)
		}
	}
}

// A foreign host's live exclusive lock refuses another one with a
// LockedError naming it; RemoveLocks with Host clears it.
func TestLockForeignHostUnlock(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	other, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "prune", Host: "gone", PID: 77})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	_, err = r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "repair index"})
	var le *repo.LockedError
	if !errors.As(err, &le) || !errors.Is(err, repo.ErrLocked) || le.Holder.Host != "gone" || le.Holder.PID != 77 || le.Age < 0 {
		t.Fatalf("exclusive lock beside a live one: %v (%+v)", err, le)
	}
	res, err := r.RemoveLocks(ctx, repo.UnlockOptions{})
	if err != nil || len(res.Removed) != 0 || len(res.Kept) != 1 {
		t.Fatalf("RemoveLocks removed %+v, kept %+v (%v); want the live lock kept", res.Removed, res.Kept, err)
	}
	res, err = r.RemoveLocks(ctx, repo.UnlockOptions{Host: "gone"})
	if err != nil || len(res.Removed) != 1 || len(res.Kept) != 0 {
		t.Fatalf("RemoveLocks --host removed %+v, kept %+v (%v)", res.Removed, res.Kept, err)
	}
	ex, err := r.Lock(ctx, repo.LockOptions{Exclusive: true, Purpose: "repair index"})
	if err != nil {
		t.Fatal(err)
	}
	ex.Unlock()
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

// A reader (restore, check) that holds its lock keeps prune from deleting
// packs it may read, whether it started before the record (it is in the
// record's locks) or after it (a live reader at phase 2).
func TestPruneWaitsForReader(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src := randTree(t, 3, 21)
	sn1 := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	src2 := randTree(t, 2, 22)
	sn2 := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src2}})
	if err := r.RemoveSnapshots(ctx, []*repo.Snapshot{sn1}); err != nil {
		t.Fatal(err)
	}
	rd := repotest.Reopen(t, r.Backend(), repotest.Options(t))
	lk, err := rd.LockForRead(ctx, "restore")
	if err != nil {
		t.Fatal(err)
	}
	if info := lk.Info(); !info.Reader || info.Exclusive {
		t.Fatalf("reader lock: %+v", info)
	}
	res, err := r.Prune(ctx, repo.PruneOptions{})
	if err != nil || res.CondemnedPacks == 0 || res.DeletedPacks != 0 || res.DeferredPacks == 0 {
		t.Fatalf("prune beside a reader: %+v, %v; want condemned and deferred", res, err)
	}
	lk.Unlock()
	// A reader that starts after the record was completed.
	lk2, err := rd.LockForRead(ctx, "check")
	if err != nil {
		t.Fatal(err)
	}
	res, err = r.Prune(ctx, repo.PruneOptions{})
	if err != nil || res.DeletedPacks != 0 || res.DeferredPacks == 0 {
		t.Fatalf("prune beside a later reader: %+v, %v; want deferred", res, err)
	}
	lk2.Unlock()
	res, err = r.Prune(ctx, repo.PruneOptions{})
	if err != nil || res.DeletedPacks == 0 {
		t.Fatalf("prune after the readers ended: %+v, %v", res, err)
	}
	mustCheck(t, r)
	restoreEquals(t, repotest.Reopen(t, r.Backend(), repotest.Options(t)), sn2, src2)
}
