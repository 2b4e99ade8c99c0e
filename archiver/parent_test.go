package archiver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// TestFindParent: the newest snapshot of the same host and exactly the
// same paths (as a backup records them: absolute, clean, sorted; a stream
// path counts), or with the same host and a tag, whatever its paths.
func TestFindParent(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(i int, host string, tags []string, paths ...string) *repo.Snapshot {
		var streams []archiver.Stream
		if i%2 == 0 {
			streams = []archiver.Stream{{Path: "/db.sql", Reader: strings.NewReader("x")}}
		}
		return repotest.Backup(t, r, archiver.BackupOptions{Paths: paths, Streams: streams, Host: host, Tags: tags, Time: t0.Add(time.Duration(i) * time.Hour)})
	}
	abOld := mk(1, "h", nil, a, b)
	_ = mk(2, "h", nil, a, b)     // with the stream: other paths
	_ = mk(3, "other", nil, a, b) // other host
	_ = mk(5, "h", nil, a)        // other paths
	imm := mk(7, "h", []string{"immich"}, b)
	_ = mk(9, "other", []string{"immich"}, a)

	find := func(q archiver.ParentQuery) *repo.Snapshot {
		t.Helper()
		p, err := archiver.FindParent(ctx, r, q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Paths given in another order and form still match.
	if p := find(archiver.ParentQuery{Host: "h", SamePaths: true, Paths: []string{b + "/", filepath.Join(a, "x", "..")}}); p == nil || p.ID() != abOld.ID() {
		t.Fatalf("same host and paths: got %v, want %s", p, abOld.ID().Short())
	}
	if p := find(archiver.ParentQuery{Host: "h", Tags: []string{"immich"}}); p == nil || p.ID() != imm.ID() {
		t.Fatalf("same host and tag: got %v, want %s", p, imm.ID().Short())
	}
	if p := find(archiver.ParentQuery{Host: "h", SamePaths: true, Paths: []string{filepath.Join(dir, "c")}}); p != nil {
		t.Fatalf("no snapshot of these paths, got %s", p.ID().Short())
	}
	if p := find(archiver.ParentQuery{Host: "nobody", Tags: []string{"immich"}}); p != nil {
		t.Fatalf("no snapshot of this host, got %s", p.ID().Short())
	}
}
