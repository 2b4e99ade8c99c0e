package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshotsDoesNotReadTheIndex: listing snapshots reads snapshot files
// only. Before, every command (snapshots included) brought the index cache
// up to date first, which on a repository of millions of blobs (or on a
// new host, or with a deleted cache) took longer than listing itself: a
// damaged index file planted after the backup shows whether the index was
// read (the sync warns about it and skips it).
func TestSnapshotsDoesNotReadTheIndex(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	mustWrite(t, filepath.Join(src, "a.txt"), []byte("hello"), 0o644)
	e.backup(0, src)
	if err := os.RemoveAll(e.cache); err != nil {
		t.Fatal(err)
	}
	// Named by a hash its content does not have: damaged.
	bad := strings.Repeat("ab", 32)
	mustWrite(t, filepath.Join(e.repo, "index", bad), []byte("not an index file"), 0o600)
	r := e.ok("snapshots")
	if strings.Contains(r.stderr, bad[:8]) || strings.Contains(r.stderr, "index") {
		t.Fatalf("snapshots read the index:\n%s", r.output())
	}
	if !strings.Contains(r.stdout, "1 snapshots") {
		t.Fatalf("snapshots did not list the snapshot:\n%s", r.output())
	}
	// Commands that need the index still see the damaged file.
	if r := e.run("check"); !strings.Contains(r.output(), bad[:8]) {
		t.Fatalf("check does not report the damaged index file:\n%s", r.output())
	}
}

// TestCheckReadDataBudgetResumesAcrossRuns: the packs a budgeted check
// verified are remembered across processes, and across a wipe of the index
// cache: a second run with a maximum age reads nothing, and reports full
// coverage.
func TestCheckReadDataBudgetResumesAcrossRuns(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	mustWrite(t, filepath.Join(src, "a.txt"), []byte("hello"), 0o644)
	mustWrite(t, filepath.Join(src, "b.txt"), []byte(strings.Repeat("x", 100000)), 0o644)
	e.backup(0, src)
	type cov struct {
		Due, Verified, Remaining, Covered, Total int
	}
	get := func(r result) cov {
		var out struct {
			Coverage *struct {
				Due       int `json:"due_packs"`
				Verified  int `json:"verified_packs"`
				Remaining int `json:"remaining_packs"`
				Covered   int `json:"covered_packs"`
				Total     int `json:"total_packs"`
			} `json:"read_data_coverage"`
		}
		if err := json.Unmarshal(lastJSONObject(t, r), &out); err != nil || out.Coverage == nil {
			t.Fatalf("no coverage in the output (%v):\n%s", err, r.output())
		}
		c := out.Coverage
		return cov{c.Due, c.Verified, c.Remaining, c.Covered, c.Total}
	}
	first := get(e.ok("--json", "check", "--read-data-budget", "1h", "--read-data-max-age", "1d"))
	if first.Total == 0 || first.Verified != first.Total || first.Remaining != 0 {
		t.Fatalf("first run: %+v", first)
	}
	// The index cache is wiped whenever prune replaces index files:
	// coverage lives beside it and survives.
	dirs, _ := filepath.Glob(filepath.Join(e.cache, "*", "index"))
	if len(dirs) != 1 {
		t.Fatalf("index cache directories: %v", dirs)
	}
	if err := os.RemoveAll(dirs[0]); err != nil {
		t.Fatal(err)
	}
	second := get(e.ok("--json", "check", "--read-data-budget", "1h", "--read-data-max-age", "1d"))
	if second.Due != 0 || second.Verified != 0 || second.Covered != first.Total {
		t.Fatalf("second run (within the maximum age) read again: %+v", second)
	}
	if r := e.run("check", "--read-data-budget", "1h", "--read-data"); r.code == 0 {
		t.Fatalf("--read-data-budget with --read-data accepted:\n%s", r.output())
	}
}
