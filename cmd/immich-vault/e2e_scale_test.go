package main_test

import (
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
