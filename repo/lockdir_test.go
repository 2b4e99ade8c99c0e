package repo_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// lockLoadGate is a backend whose loads of lock files wait until `want`
// of them are in flight together (or 30 s passed, so that a reader
// loading them one after another still finishes), and that records how
// many it saw at once and which it loaded. The other calls are mem's.
type lockLoadGate struct {
	backend.Backend
	want int

	mu      sync.Mutex
	cond    *sync.Cond
	active  bool
	now     int
	most    int
	loaded  map[string]int
	release bool
}

func (g *lockLoadGate) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	g.mu.Lock()
	if g.active && h.Type == backend.LockFile {
		g.loaded[h.Name]++
		g.now++
		g.most = max(g.most, g.now)
		if g.now >= g.want {
			g.release = true
			g.cond.Broadcast()
		}
		deadline := time.AfterFunc(30*time.Second, func() {
			g.mu.Lock()
			g.release = true
			g.cond.Broadcast()
			g.mu.Unlock()
		})
		for !g.release {
			g.cond.Wait()
		}
		deadline.Stop()
		g.now--
	}
	g.mu.Unlock()
	return g.Backend.Load(ctx, h, length, offset, fn)
}

// TestLockDirLoadsTogether: reading the lock directory (a writer's
// PrepareWrite, after it stored its lock) loads the other sessions' lock
// files at the same time, not one round trip after another, and does not
// load back the lock file it stored itself (issue 14).
func TestLockDirLoadsTogether(t *testing.T) {
	ctx := context.Background()
	g := &lockLoadGate{Backend: mem.New(), want: 3, loaded: map[string]int{}}
	g.cond = sync.NewCond(&g.mu)
	r := repotest.InitIn(t, g, repotest.Options(t))
	other := repotest.Reopen(t, g, repotest.Options(t))
	for _, p := range []string{"a", "b", "c"} {
		lk, err := other.Lock(ctx, repo.LockOptions{Purpose: "other " + p})
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Unlock()
	}
	g.mu.Lock()
	g.active = true
	g.mu.Unlock()
	start := time.Now()
	lk, err := r.LockForWrite(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	g.mu.Lock()
	g.active = false
	most, loaded := g.most, g.loaded
	g.mu.Unlock()
	t.Logf("lock files loaded %v, at most %d at once, in %v", loaded, most, time.Since(start).Round(time.Millisecond))
	if most < 3 {
		t.Errorf("the three other sessions' lock files were loaded at most %d at a time, want 3 together", most)
	}
	if len(loaded) != 3 {
		t.Errorf("%d lock files loaded, want the other sessions' 3 (not the writer's own)", len(loaded))
	}
}
