package main_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// twoSources writes the directories a and b in e.dir, each with a file f
// (holding "a" and "b"), and returns their paths.
func (e *env) twoSources() (a, b string) {
	e.t.Helper()
	a, b = filepath.Join(e.dir, "a"), filepath.Join(e.dir, "b")
	mustMkdirAll(e.t, a)
	mustMkdirAll(e.t, b)
	mustWrite(e.t, filepath.Join(a, "f"), []byte("a"), 0o644)
	mustWrite(e.t, filepath.Join(b, "f"), []byte("b"), 0o644)
	return a, b
}

// TestTag: tag --add/--remove/--set rewrite only the snapshots whose tags
// change (new ID, same tree, time and paths; the old file gone), select
// by IDs, "latest" or --host/--tag/--path, and leave a repository that
// checks clean.
func TestTag(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	a, b := e.twoSources()
	sa, _ := e.backup(0, a)
	sb, _ := e.backup(0, b)
	byPath := func() map[string]snapshot {
		m := map[string]snapshot{}
		for _, s := range e.snapshots() {
			m[s.Paths[0]] = s
		}
		return m
	}
	before := byPath()

	r := e.ok("tag", "--add", "keep,photos", sa.SnapshotID[:8])
	after := byPath()
	na, nb := after[a], after[b]
	if na.ID == sa.SnapshotID || !reflect.DeepEqual(na.Tags, []string{"keep", "photos"}) || na.Tree != before[a].Tree || na.Time != before[a].Time {
		t.Fatalf("tag --add: before %+v after %+v\n%v", before[a], na, r)
	}
	if nb.ID != sb.SnapshotID {
		t.Errorf("the other snapshot was rewritten: %s -> %s", sb.SnapshotID, nb.ID)
	}
	if !strings.Contains(r.stdout, sa.SnapshotID[:8]+" is now "+na.ShortID) {
		t.Errorf("output does not give the new ID:\n%v", r)
	}
	if r := e.run("ls", sa.SnapshotID); r.code == 0 {
		t.Errorf("the old snapshot file is still there:\n%v", r)
	}
	// Without IDs: every snapshot passing the filters.
	e.ok("tag", "--add", "keep", "--path", b)
	if got := e.snapshots("--tag", "keep"); len(got) != 2 {
		t.Errorf("--tag keep after tagging by --path: %d snapshots", len(got))
	}
	r = e.ok("--json", "tag", "--remove", "photos", "--tag", "keep")
	res := decodeJSON[struct {
		Changed []struct {
			Old  string   `json:"old_snapshot_id"`
			New  string   `json:"new_snapshot_id"`
			Tags []string `json:"tags"`
		} `json:"changed"`
		Unchanged int `json:"unchanged"`
	}](t, r)
	if len(res.Changed) != 1 || res.Unchanged != 1 || !reflect.DeepEqual(res.Changed[0].Tags, []string{"keep"}) {
		t.Errorf("--json tag --remove: %+v\n%v", res, r)
	}
	e.ok("tag", "--set", "", "latest")
	e.ok("tag", "--set", "x", "--set", "y", "--path", a)
	after = byPath()
	if len(after[b].Tags) != 0 || !reflect.DeepEqual(after[a].Tags, []string{"x", "y"}) {
		t.Errorf("--set: %+v", after)
	}
	// The immich tag marks Immich snapshots (immich restore/verify find
	// them by it): it cannot be dropped from one.
	e.ok("tag", "--add", "immich", "--path", a)
	for _, args := range [][]string{{"--remove", "immich"}, {"--set", "keep"}} {
		r := e.run(append([]string{"tag"}, append(args, "--path", a)...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "Immich snapshot") {
			t.Errorf("tag %v on an immich snapshot: want a refusal:\n%v", args, r)
		}
	}
	if got := byPath()[a].Tags; !reflect.DeepEqual(got, []string{"x", "y", "immich"}) {
		t.Errorf("tags after the refusals: %v", got)
	}
	e.ok("tag", "--set", "immich,x,y", "--path", a)
	wantCode(t, e.run("tag", "latest"), 1)
	wantCode(t, e.run("tag", "--set", "a", "--add", "b", "latest"), 1)
	e.ok("check", "--read-data")
	if n := len(e.snapshots()); n != 2 {
		t.Errorf("%d snapshots after tagging, want 2", n)
	}
}
