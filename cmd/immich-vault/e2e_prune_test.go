package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writeRandomTree writes n files of 64–400 KiB from seed under dir, plus
// the files of reuse (copied, for dedup across sources).
func writeRandomTree(t *testing.T, dir string, n int, seed uint64, reuse map[string][]byte) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed*7+1))
	files := map[string][]byte{}
	for name, b := range reuse {
		files[name] = b
	}
	for i := range n {
		b := make([]byte, 64<<10+rng.IntN(336<<10))
		for j := 0; j+8 <= len(b); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				b[j+k] = byte(v >> (8 * k))
			}
		}
		files[fmt.Sprintf("d%d/f%03d.bin", i%3, i)] = b
	}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		mustMkdirAll(t, filepath.Dir(p))
		mustWrite(t, p, b, 0o644)
	}
	return files
}

// restoreMatches restores snapshot id's path src and compares every file.
func (e *env) restoreMatches(id, src string, files map[string][]byte) {
	e.t.Helper()
	target := filepath.Join(e.t.TempDir(), "r")
	e.ok("restore", id+":"+src, "--target", target)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(target, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, want) {
			e.t.Fatalf("snapshot %s: %s differs after restore (err %v)", id[:8], name, err)
		}
	}
}

// Two backups from two processes and a prune beside them: all three
// succeed, and the repository checks and restores afterwards.
func TestE2EPruneBesideTwoBackups(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	srcA, srcB := filepath.Join(e.dir, "a"), filepath.Join(e.dir, "b")
	filesA := writeRandomTree(t, srcA, 24, 1, nil)
	filesB := writeRandomTree(t, srcB, 24, 2, nil)
	// Something for prune to do: a forgotten snapshot of other data.
	old := filepath.Join(e.dir, "old")
	writeRandomTree(t, old, 12, 3, nil)
	e.ok("backup", old)
	first := e.snapshots()
	e.ok("forget", first[0].ID)
	var wg sync.WaitGroup
	results := make([]result, 3)
	for i, args := range [][]string{{"backup", srcA}, {"backup", srcB}, {"prune", "--max-unused", "0%"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate caches, as separate hosts or users would have.
			o := opts{extraEnv: []string{"IMMICH_VAULT_CACHE_DIR=" + filepath.Join(e.dir, fmt.Sprint("cache", i))}}
			results[i] = e.runOpts(o, args...)
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.code != exitOK {
			t.Fatalf("concurrent command failed:\n%v", r)
		}
	}
	// A later prune finishes any deletion the first deferred.
	e.ok("prune", "--max-unused", "0%")
	e.ok("check", "--read-data")
	snaps := e.snapshots()
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots, want 2", len(snaps))
	}
	for _, s := range snaps {
		switch s.Paths[0] {
		case srcA:
			e.restoreMatches(s.ID, srcA, filesA)
		case srcB:
			e.restoreMatches(s.ID, srcB, filesB)
		default:
			t.Fatalf("unexpected snapshot paths %v", s.Paths)
		}
	}
}

func TestE2EForgetDryRunShowsReasons(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	writeRandomTree(t, src, 2, 5, nil)
	for range 3 {
		e.ok("backup", src)
	}
	r := e.ok("forget", "--keep-last", "2", "--dry-run")
	if !strings.Contains(r.stdout, "last snapshot") || !strings.Contains(r.stdout, "would remove 1 snapshots") {
		t.Fatalf("dry run output lacks reasons:\n%v", r)
	}
	if n := len(e.snapshots()); n != 3 {
		t.Fatalf("dry run removed snapshots: %d left", n)
	}
	r = e.ok("forget", "--keep-last", "2", "--prune", "--json")
	var groups []struct {
		Keep   []struct{ Reasons []string } `json:"keep"`
		Remove []struct{ ID string }        `json:"remove"`
	}
	dec := decodeJSONPrefix(t, r.stdout, &groups)
	if len(groups) != 1 || len(groups[0].Keep) != 2 || len(groups[0].Remove) != 1 || !dec {
		t.Fatalf("forget --json: %+v\n%v", groups, r)
	}
	if n := len(e.snapshots()); n != 2 {
		t.Fatalf("%d snapshots after forget, want 2", n)
	}
	if r := e.run("forget"); r.code == exitOK {
		t.Fatalf("forget without a policy must refuse:\n%v", r)
	}
	e.ok("check", "--read-data-subset", "1/2")
	e.ok("check", "--read-data-subset", "50%")
	if r := e.run("check", "--read-data-subset", "0/2"); r.code != exitFailure {
		t.Fatalf("bad subset accepted:\n%v", r)
	}
}

// decodeJSONPrefix decodes the first JSON value of s into v.
func decodeJSONPrefix(t *testing.T, s string, v any) bool {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, s)
	}
	return true
}
