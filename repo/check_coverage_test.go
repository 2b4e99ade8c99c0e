package repo_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// fakeClock advances one minute every time it is read.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

// TestCheckReadDataBudgetCoversEveryPack: resumable verification reads the
// packs not verified for the longest time first, within the budget, and
// remembers them, so that successive runs cover every pack; with a maximum
// age, covered packs are not due; a damaged pack is reported, not
// remembered as verified, and read first by the next run.
func TestCheckReadDataBudgetCoversEveryPack(t *testing.T) {
	ctx := context.Background()
	r := smallPackRepo(t)
	src := randTree(t, 12, 7)
	repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	total := packCount(t, r)
	if total < 4 {
		t.Fatalf("only %d packs: the test needs several", total)
	}
	clk := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	run := func(budget, maxAge time.Duration) *repo.CheckResult {
		t.Helper()
		res, err := r.Check(ctx, repo.CheckOptions{ReadDataBudget: budget, ReadDataMaxAge: maxAge, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		if res.Coverage == nil {
			t.Fatal("no coverage report")
		}
		return res
	}
	// Small budgets: a few packs per run, never zero, until all are covered.
	runs := 0
	for {
		res := run(2*time.Minute, 1000*time.Hour)
		if !res.OK() {
			t.Fatalf("check: %v %v", res.Problems, res.Damaged)
		}
		c := res.Coverage
		runs++
		t.Logf("run %d: %+v", runs, *c)
		if c.Total != total {
			t.Fatalf("coverage counts %d packs, the repository has %d", c.Total, total)
		}
		if c.Verified < 1 || c.Verified > 3 {
			t.Fatalf("run %d verified %d packs; the budget allows 1 to 3", runs, c.Verified)
		}
		if c.Due != total-(c.Covered-c.Verified) || c.Remaining != c.Due-c.Verified {
			t.Fatalf("inconsistent coverage %+v", *c)
		}
		if c.Remaining == 0 {
			if c.Covered != total || c.Oldest.IsZero() {
				t.Fatalf("full coverage reported as %+v", *c)
			}
			break
		}
		if runs > total {
			t.Fatalf("%d runs and still %d packs not verified", runs, c.Remaining)
		}
	}
	if runs < 2 {
		t.Fatalf("the budget let one run read all %d packs", total)
	}
	// Everything verified within the maximum age: nothing is due.
	if c := run(time.Hour, 1000*time.Hour).Coverage; c.Due != 0 || c.Verified != 0 || c.Covered != total {
		t.Fatalf("after full coverage: %+v", *c)
	}
	// Damage one pack's data (not its header): every pack is due without
	// a maximum age; the damaged one is reported and stays due.
	var victim string
	err := r.Backend().List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		if victim == "" && fi.Size > 100<<10 {
			victim = fi.Name
		}
		return nil
	})
	if err != nil || victim == "" {
		t.Fatalf("no pack to damage (%v)", err)
	}
	p := filepath.Join(r.Backend().Location(), "data", victim[:2], victim)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(time.Hour, 0)
	if res.OK() || len(res.Damaged) == 0 {
		t.Fatalf("damaged pack %s not reported: %+v", victim[:8], res)
	}
	if c := res.Coverage; c.Due != total || c.Verified != total-1 || c.Remaining != 1 {
		t.Fatalf("with one damaged pack: %+v", *c)
	}
	// Its last good verification is now the oldest: a one-pack run reads it.
	res = run(time.Nanosecond, 0)
	if res.OK() || res.Coverage.Verified != 0 || res.Damaged[0].Pack != victim {
		t.Fatalf("the next run did not read the damaged pack first: %+v %+v", res.Damaged, *res.Coverage)
	}
}
