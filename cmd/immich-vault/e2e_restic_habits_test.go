package main_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestSnapshotsLatestGroupBy: --latest N keeps the newest N of each host
// and paths (or of each --group-by group); --group-by prints groups, and
// with --json one document [{group_key, snapshots}] with [] never null.
func TestSnapshotsLatestGroupBy(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	a, b := e.twoSources()
	var newestA, newestB string
	for i := 0; i < 3; i++ {
		s, _ := e.backup(0, a)
		newestA = s.SnapshotID
		s, _ = e.backup(0, b, "--tag", "bee")
		newestB = s.SnapshotID
	}
	got := e.snapshots("--latest", "1")
	ids := []string{}
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	want := []string{newestA, newestB}
	sort.Strings(want)
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("--latest 1: got %v, want the newest of each path %v", ids, want)
	}
	if n := len(e.snapshots("--latest", "2", "--path", a)); n != 2 {
		t.Errorf("--latest 2 --path a: %d snapshots", n)
	}
	r := e.ok("snapshots", "--json", "--group-by", "tags", "--latest", "2")
	groups := decodeJSON[[]struct {
		GroupKey struct {
			Host  *string   `json:"host"`
			Paths *[]string `json:"paths"`
			Tags  *[]string `json:"tags"`
		} `json:"group_key"`
		Snapshots []snapshot `json:"snapshots"`
	}](t, r)
	if len(groups) != 2 {
		t.Fatalf("--group-by tags: %d groups, want 2:\n%v", len(groups), r)
	}
	for _, g := range groups {
		if g.GroupKey.Host == nil || g.GroupKey.Paths == nil || g.GroupKey.Tags == nil || len(g.Snapshots) != 2 {
			t.Errorf("group: %+v (want host, paths and tags present, [] not null, 2 snapshots)\n%v", g.GroupKey, r)
		}
	}
	r = e.ok("snapshots", "--group-by", "paths")
	if strings.Count(r.stdout, "snapshots for (paths [") != 2 || !strings.Contains(r.stdout, "6 snapshots in 2 groups") {
		t.Errorf("--group-by paths:\n%v", r)
	}
	wantCode(t, e.run("snapshots", "--group-by", "colour"), 1)
	if r := e.ok("snapshots", "--json", "--group-by", "host", "--host", "nosuchhost"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("no group: want [], got:\n%v", r)
	}
}

// TestFindNewestOldestSnapshot: find --newest/--oldest bound the files'
// modification times; --snapshot picks snapshots, "latest" filtered by
// --path.
func TestFindNewestOldestSnapshot(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	mustMkdirAll(t, src)
	old, recent := filepath.Join(src, "old.jpg"), filepath.Join(src, "recent.jpg")
	mustWrite(t, old, []byte("old"), 0o644)
	mustWrite(t, recent, []byte("recent"), 0o644)
	os.Chtimes(old, time.Date(2020, 5, 1, 12, 0, 0, 0, time.Local), time.Date(2020, 5, 1, 12, 0, 0, 0, time.Local))
	os.Chtimes(recent, time.Date(2024, 8, 1, 12, 0, 0, 0, time.Local), time.Date(2024, 8, 1, 12, 0, 0, 0, time.Local))
	s1, _ := e.backup(0, src)
	other := filepath.Join(e.dir, "other")
	mustMkdirAll(t, other)
	mustWrite(t, filepath.Join(other, "x.jpg"), []byte("x"), 0o644)
	s2, _ := e.backup(0, other)

	find := func(args ...string) []string {
		t.Helper()
		r := e.ok(append([]string{"find", "*.jpg"}, args...)...)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if l != "" {
				out = append(out, filepath.Base(strings.Fields(l)[1]))
			}
		}
		sort.Strings(out)
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	check("--newest 2020-05-01 (the whole day)", find("--newest", "2020-05-01"), "old.jpg")
	check("--oldest 2021-01-01 --newest 2024-12-31", find("--oldest", "2021-01-01", "--newest", "2024-12-31"), "recent.jpg")
	check("--oldest RFC 3339", find("--oldest", "2024-08-01T11:00:00Z", "-s", s1.SnapshotID[:8]), "recent.jpg")
	check("-s latest", find("-s", "latest"), "x.jpg")
	check("-s latest --path src", find("-s", "latest", "--path", src), "old.jpg", "recent.jpg")
	check("--path src (all snapshots of it)", find("--path", src), "old.jpg", "recent.jpg")
	check("-s both", find("-s", s1.SnapshotID, "-s", s2.SnapshotID[:10]), "old.jpg", "recent.jpg", "x.jpg")
	wantCode(t, e.run("find", "*", "--newest", "yesterday"), 1)
	if r := e.ok("--json", "find", "*.jpg", "--oldest", "2099-01-01"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("no match: want [], got:\n%v", r)
	}
}
