package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// exitLockedCode is the CLI's exit code for a repository held by another
// maintenance operation.
const exitLockedCode = 11

// requireUnshare skips (fails under CI=true) when this machine cannot run
// a process in a new PID namespace.
func requireUnshare(t *testing.T) {
	t.Helper()
	out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").CombinedOutput()
	if err == nil {
		return
	}
	msg := "unshare --pid --fork --mount-proc is unavailable (util-linux, root): " + err.Error() + ": " + string(out)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// lockFiles lists the files in the repository's locks/ directory.
func (e *env) lockFiles() []string {
	ents, _ := os.ReadDir(filepath.Join(e.repo, "locks"))
	var names []string
	for _, d := range ents {
		if !strings.HasPrefix(d.Name(), ".") {
			names = append(names, d.Name())
		}
	}
	return names
}

// The finding: a backup and a prune on the same host name but in different
// PID namespaces (two containers with the same hostname:). Prune used to
// judge the backup's lock stale because its PID did not exist in prune's
// namespace, and deleted the condemned packs the backup was deduplicating
// against at once; the backup's snapshot could not be restored.
func TestE2ELockPruneInOtherPIDNamespaceWaitsForBackup(t *testing.T) {
	requireUnshare(t)
	e := newEnv(t)
	e.initRepo()
	rng := rand.New(rand.NewPCG(11, 12))
	data := make([]byte, 6<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	parent, _ := e.backupOpts(opts{stdin: bytes.NewReader(data)}, exitOK, "--stdin", "--stdin-filename", "photo.bin")

	// The backup of the same data, held open on its standard input: it
	// deduplicates every chunk against the parent's packs.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	bk := exec.Command(binPath, "backup", "--json", "--stdin", "--stdin-filename", "photo.bin")
	bk.Env = append(e.environ(), "IMMICH_VAULT_CACHE_DIR="+filepath.Join(e.dir, "cache-backup"))
	bk.Stdin, bk.Stdout, bk.Stderr = pr, &out, &out
	if err := bk.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	defer bk.Process.Kill()
	if _, err := pw.Write(data); err != nil {
		t.Fatalf("feed the backup: %v\n%s", err, out.String())
	}
	deadline := time.Now().Add(3 * time.Minute)
	for len(e.lockFiles()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the backup stored no lock within 3 minutes:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	e.ok("forget", parent.SnapshotID)
	prune := exec.Command("unshare", "--pid", "--fork", "--mount-proc", binPath, "prune", "--json", "--max-unused", "0%")
	prune.Env = append(e.environ(), "IMMICH_VAULT_CACHE_DIR="+filepath.Join(e.dir, "cache-prune"))
	pout, err := prune.CombinedOutput()
	if err != nil {
		t.Fatalf("prune in another PID namespace: %v\n%s", err, pout)
	}
	var res struct {
		Condemned int `json:"condemned_packs"`
		Deleted   int `json:"deleted_packs"`
		Deferred  int `json:"deferred_packs"`
	}
	if err := json.Unmarshal(lastJSONObject(t, result{stdout: string(pout)}), &res); err != nil {
		t.Fatalf("prune output: %v\n%s", err, pout)
	}
	if res.Condemned == 0 {
		t.Fatalf("prune condemned nothing (test premise: the parent's packs are unused):\n%s", pout)
	}
	if res.Deleted != 0 || res.Deferred == 0 {
		t.Errorf("prune beside a running backup in another PID namespace deleted %d packs, deferred %d; want 0 deleted (the backup still needs them)\n%s",
			res.Deleted, res.Deferred, pout)
	}

	pw.Close()
	if err := bk.Wait(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}
	var sum backupSummary
	if err := json.Unmarshal(lastJSONObject(t, result{stdout: out.String()}), &sum); err != nil {
		t.Fatalf("backup summary: %v\n%s", err, out.String())
	}
	e.ok("check", "--read-data")
	got := e.ok("dump", sum.SnapshotID, "/photo.bin").stdout
	if !bytes.Equal([]byte(got), data) {
		t.Fatalf("the backup's snapshot does not restore: %d bytes, want %d", len(got), len(data))
	}
	// After the backup ended, the next prune keeps what its snapshot uses.
	e.ok("prune", "--max-unused", "0%")
	e.ok("check", "--read-data")
	target := filepath.Join(t.TempDir(), "r")
	e.ok("restore", sum.SnapshotID, "--target", target)
	if b, err := os.ReadFile(filepath.Join(target, "photo.bin")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("restore after the second prune: %v", err)
	}
}

// plantLock stores a lock as another process would have left it: the lock
// is taken through the engine with opts, then its file is kept with the
// given modification time (the storage's clock) and the holder released
// without removing it, as if the holder crashed or still ran elsewhere.
func (e *env) plantLock(o repo.LockOptions, mtime time.Time) repo.LockInfo {
	e.t.Helper()
	ctx := context.Background()
	be, err := local.Open(e.repo)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := repo.Open(ctx, be, []byte(e.password), repo.Options{NoCache: true, KDF: repotest.KDF})
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	lk, err := r.Lock(ctx, o)
	if err != nil {
		e.t.Fatal(err)
	}
	info := lk.Info()
	p := filepath.Join(e.repo, "locks", info.File().String())
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	lk.Unlock()
	mustWrite(e.t, p, b, 0o600)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		e.t.Fatal(err)
	}
	return info
}

// Staleness must not compare another host's clock with ours.
func TestE2ELockClockSkew(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	now := time.Now()
	// A prune that runs on a host whose clock is a year behind: its lock
	// file was just written, but its "refreshed" time is a year old.
	e.plantLock(repo.LockOptions{Exclusive: true, Purpose: "prune", Host: "slow-clock", PID: 4242,
		Now: func() time.Time { return time.Now().AddDate(-1, 0, 0) }}, now)
	r := e.run("prune")
	if !wantCode(t, r, exitLockedCode) {
		t.Fatal("a live prune whose host's clock is behind was judged stale")
	}
	for _, want := range []string{"slow-clock", "4242", "prune", "unlock"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the locked message does not name %q:\n%v", want, r)
		}
	}
	e.ok("unlock", "--remove-all")
	if n := len(e.lockFiles()); n != 0 {
		t.Fatalf("%d lock files after unlock --remove-all", n)
	}

	// A prune that crashed on a host whose clock is a year ahead: its file
	// was last written 40 minutes ago by the storage's clock.
	e.plantLock(repo.LockOptions{Exclusive: true, Purpose: "prune", Host: "fast-clock", PID: 4243,
		Now: func() time.Time { return time.Now().AddDate(1, 0, 0) }}, now.Add(-40*time.Minute))
	r = e.run("prune", "--json")
	if !wantCode(t, r, exitOK) {
		t.Fatal("a dead prune whose host's clock is ahead blocks prune")
	}
	var res struct {
		Stale int `json:"stale_locks_removed"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &res); err != nil || res.Stale != 1 {
		t.Fatalf("prune removed %d stale locks (%v), want 1:\n%v", res.Stale, err, r)
	}
	if n := len(e.lockFiles()); n != 0 {
		t.Fatalf("%d lock files left after prune", n)
	}
}

type unlockJSON struct {
	Removed []struct {
		Host    string `json:"host"`
		PID     int    `json:"pid"`
		Purpose string `json:"purpose"`
		Reason  string `json:"reason"`
	} `json:"removed"`
	Kept []struct {
		Host string `json:"host"`
	} `json:"kept"`
}

func TestE2EUnlock(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	now := time.Now()
	// A crashed prune of another host, refreshed 2 minutes ago: it blocks
	// prune and repair until it is 30 minutes old.
	e.plantLock(repo.LockOptions{Exclusive: true, Purpose: "prune", Host: "gone-host", PID: 777}, now.Add(-2*time.Minute))
	// A crashed backup of this very process namespace: stale at once.
	e.plantLock(repo.LockOptions{Purpose: "backup", PID: 1 << 30}, now)
	// A running backup of a third host.
	e.plantLock(repo.LockOptions{Purpose: "backup", Host: "busy-host", PID: 888}, now)

	r := e.run("repair", "snapshots")
	wantCode(t, r, exitLockedCode)
	for _, want := range []string{"gone-host", "777", "prune", "immich-vault unlock"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the locked message does not name %q:\n%v", want, r)
		}
	}

	// unlock: only the stale lock goes.
	u := decodeJSON[unlockJSON](t, e.ok("unlock", "--json"))
	if len(u.Removed) != 1 || u.Removed[0].PID != 1<<30 || len(u.Kept) != 2 {
		t.Fatalf("unlock removed %+v, kept %+v; want only the dead local backup removed", u.Removed, u.Kept)
	}
	wantCode(t, e.run("prune"), exitLockedCode)

	// The user confirmed gone-host is gone.
	u = decodeJSON[unlockJSON](t, e.ok("unlock", "--host", "gone-host", "--json"))
	if len(u.Removed) != 1 || u.Removed[0].Host != "gone-host" || len(u.Kept) != 1 || u.Kept[0].Host != "busy-host" {
		t.Fatalf("unlock --host gone-host removed %+v, kept %+v", u.Removed, u.Kept)
	}
	e.ok("prune")
	if n := len(e.lockFiles()); n != 1 {
		t.Fatalf("%d lock files, want busy-host's only", n)
	}
	r = e.ok("unlock", "--remove-all")
	if !strings.Contains(r.output(), "1") {
		t.Errorf("unlock --remove-all does not say how many locks it removed:\n%v", r)
	}
	if n := len(e.lockFiles()); n != 0 {
		t.Fatalf("%d lock files after unlock --remove-all", n)
	}
	// Nothing to do is fine.
	e.ok("unlock")
}
