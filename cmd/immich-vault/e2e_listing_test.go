package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitAndVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The directory does not exist yet, nor does its parent.
	e.repo = filepath.Join(e.dir, "new-parent", "repo")
	r := e.ok("init", "--json")
	type initInfo struct {
		ID       string `json:"id"`
		Location string `json:"location"`
	}
	v := decodeJSON[initInfo](t, r)
	if !isHexID(v.ID) {
		t.Errorf("init --json: id %q is not hex", v.ID)
	}
	if !strings.Contains(v.Location, e.repo) {
		t.Errorf("init --json: location %q does not name %s", v.Location, e.repo)
	}
	if _, err := os.Stat(filepath.Join(e.repo, "immich-vault")); err != nil {
		t.Errorf("init did not write the marker file: %v", err)
	}
	before := fileListing(t, e.repo)
	wantCode(t, e.run("init"), exitFailure)
	if after := fileListing(t, e.repo); after != before {
		t.Errorf("a second init changed the repository:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A fresh repository lists no snapshots, as an empty array.
	if n := len(e.snapshots()); n != 0 {
		t.Errorf("fresh repository: %d snapshots", n)
	}

	r = e.runOpts(opts{noRepoEnv: true, password: strPtr("")}, "version")
	if wantCode(t, r, exitOK) && strings.TrimSpace(r.stdout) == "" {
		t.Errorf("version prints nothing:\n%v", r)
	}
	r = e.runOpts(opts{noRepoEnv: true, password: strPtr("")}, "--help")
	if wantCode(t, r, exitOK) {
		out := r.output()
		for _, code := range []string{"3", "10", "12"} {
			if !strings.Contains(out, code) {
				t.Errorf("--help does not document exit code %s:\n%v", code, r)
			}
		}
	}
}

// listingTree is the source of TestListingAndFilters.
type listingTree struct {
	src, a, b, c, link    string
	cacheBlob, tmp1, tmp2 string
	dropSub, dropTop, log string
	img1, imgX, q1, q10   string
	deepSkip, deepKeep    string
	aMtime                time.Time
	cData                 []byte
}

func makeListingTree(t *testing.T, dir string) listingTree {
	t.Helper()
	src := filepath.Join(dir, "src")
	lt := listingTree{
		src:       src,
		a:         filepath.Join(src, "a.txt"),
		b:         filepath.Join(src, "sub", "b.txt"),
		c:         filepath.Join(src, "sub", "c.bin"),
		link:      filepath.Join(src, "link-to-a"),
		cacheBlob: filepath.Join(src, "some-cache", "blob.bin"),
		tmp1:      filepath.Join(src, "scratch.tmp"),
		tmp2:      filepath.Join(src, "sub", "more.tmp"),
		dropSub:   filepath.Join(src, "sub", "drop-1.dat"),
		dropTop:   filepath.Join(src, "drop-2.dat"),
		log:       filepath.Join(src, "sub", "noise.log"),
		img1:      filepath.Join(src, "img-1.raw"),
		imgX:      filepath.Join(src, "img-x.raw"),
		q1:        filepath.Join(src, "q1.txt"),
		q10:       filepath.Join(src, "q10.txt"),
		deepSkip:  filepath.Join(src, "nested", "x", "y", "deep-skip"),
		deepKeep:  filepath.Join(src, "nested", "deep-keep"),
		aMtime:    time.Date(2023, 11, 5, 14, 30, 15, 987654321, time.UTC),
		cData:     randomBytes(3, 200*kib),
	}
	mustWrite(t, lt.a, []byte("alpha\n"), 0o640)
	mustWrite(t, lt.b, []byte("bravo\n"), 0o644)
	mustWrite(t, lt.c, lt.cData, 0o600)
	for _, p := range []string{lt.tmp1, lt.tmp2, lt.dropSub, lt.dropTop, lt.log, lt.img1, lt.imgX, lt.q1, lt.q10, lt.deepSkip, lt.deepKeep} {
		mustWrite(t, p, []byte("content of "+filepath.Base(p)+"\n"), 0o644)
	}
	mustWrite(t, lt.cacheBlob, randomBytes(4, 10*kib), 0o644)
	mustWrite(t, filepath.Join(src, "some-cache", "CACHEDIR.TAG"),
		[]byte("Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag.\n"), 0o644)
	if err := os.Symlink("a.txt", lt.link); err != nil {
		t.Fatal(err)
	}
	setMtime(t, lt.a, lt.aMtime)
	return lt
}

// TestListingAndFilters covers snapshots, ls, find, stats, dump, restore
// --include/--exclude, `latest` and id prefixes, and the backup excludes.
func TestListingAndFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lt := makeListingTree(t, e.dir)
	src := lt.src
	excludeFile := filepath.Join(e.dir, "excludes")
	mustWrite(t, excludeFile, []byte("*.log\n"), 0o644)
	e.initRepo()

	s1, _ := e.backup(exitOK, "--tag", "first", "--host", "host-one",
		"--exclude", "*.tmp",
		"--exclude", src+"/sub/drop-*.dat",
		"--exclude", "img-[0-9].raw",
		"--exclude", "q?.txt",
		"--exclude", src+"/**/deep-skip",
		"--exclude-file", excludeFile,
		"--exclude-caches",
		src)
	s2, _ := e.backup(exitOK, "--tag", "second", "--tag", "extra", "--host", "host-two", src)

	// snapshots --json
	snaps := e.snapshots()
	if len(snaps) != 2 {
		t.Fatalf("want 2 snapshots, got %d", len(snaps))
	}
	byTag := map[string]snapshot{}
	for _, s := range snaps {
		if !isHexID(s.ID) || !strings.HasPrefix(s.ID, s.ShortID) || len(s.ShortID) < 8 || len(s.ShortID) >= len(s.ID) {
			t.Errorf("snapshot ids: id %q short_id %q", s.ID, s.ShortID)
		}
		if _, err := time.Parse(time.RFC3339Nano, s.Time); err != nil {
			t.Errorf("snapshot time %q: %v", s.Time, err)
		}
		if len(s.Paths) != 1 || s.Paths[0] != src {
			t.Errorf("snapshot paths %q, want [%q]", s.Paths, src)
		}
		if s.Tree == "" || s.Partial {
			t.Errorf("snapshot %s: tree %q partial %v", s.ShortID, s.Tree, s.Partial)
		}
		var sum map[string]json.RawMessage
		if err := json.Unmarshal(s.Summary, &sum); err != nil || len(sum) == 0 {
			t.Errorf("snapshot %s: summary is not a non-empty object: %s", s.ShortID, s.Summary)
		}
		if len(s.Tags) > 0 {
			byTag[s.Tags[0]] = s
		}
	}
	first, second := byTag["first"], byTag["second"]
	if first.Host != "host-one" || !strings.HasPrefix(first.ID, s1.SnapshotID) && !strings.HasPrefix(s1.SnapshotID, first.ID) {
		t.Errorf("first snapshot: %+v (backup said %s)", first, s1.SnapshotID)
	}
	if second.Host != "host-two" || !sameSet(second.Tags, []string{"second", "extra"}) {
		t.Errorf("second snapshot: %+v", second)
	}
	if got := e.snapshots("--host", "host-one"); len(got) != 1 || got[0].ID != first.ID {
		t.Errorf("snapshots --host host-one: %+v", got)
	}
	if got := e.snapshots("--tag", "extra"); len(got) != 1 || got[0].ID != second.ID {
		t.Errorf("snapshots --tag extra: %+v", got)
	}
	if got := e.snapshots("--host", "no-such-host"); len(got) != 0 {
		t.Errorf("snapshots --host no-such-host: %+v", got)
	}
	if r := e.ok("snapshots"); !strings.Contains(r.stdout, first.ShortID) || !strings.Contains(r.stdout, second.ShortID) {
		t.Errorf("snapshots (text) does not show both short ids:\n%v", r)
	}

	// ls of the first snapshot by id prefix: the excludes took effect.
	paths := e.lsPaths(first.ID[:8])
	for _, p := range []string{filepath.Dir(src), src, lt.a, filepath.Dir(lt.b), lt.b, lt.c, lt.link, lt.dropTop, lt.imgX, lt.q10, lt.deepKeep} {
		if !contains(paths, p) {
			t.Errorf("ls %s lacks %q", first.ID[:8], p)
		}
	}
	for _, p := range []string{lt.tmp1, lt.tmp2, lt.dropSub, lt.log, lt.img1, lt.q1, lt.deepSkip, lt.cacheBlob} {
		if contains(paths, p) {
			t.Errorf("ls %s lists the excluded %q", first.ID[:8], p)
		}
	}
	if t.Failed() {
		t.Logf("ls output:\n%s", strings.Join(paths, "\n"))
	}
	// latest is the second snapshot, which has no excludes.
	latest := e.lsPaths("latest")
	for _, p := range []string{lt.tmp1, lt.log, lt.cacheBlob} {
		if !contains(latest, p) {
			t.Errorf("ls latest lacks %q (the latest snapshot has no excludes)", p)
		}
	}
	// ls SNAPSHOT PATH: only that subtree.
	sub := filepath.Dir(lt.b)
	for _, p := range e.lsPaths(second.ShortID, sub) {
		if p != sub && !strings.HasPrefix(p, sub+"/") {
			t.Errorf("ls %s %s lists %q, outside that path", second.ShortID, sub, p)
		}
	}
	if subPaths := e.lsPaths(second.ShortID, sub); !contains(subPaths, lt.b) || contains(subPaths, lt.a) {
		t.Errorf("ls %s %s: %q", second.ShortID, sub, subPaths)
	}
	// Unknown snapshot ids are errors.
	wantFailure(t, e.run("ls", "ffffffffffffffff"))

	// ls --json: types, sizes, modes and nanosecond mtimes.
	nodes := e.lsJSON("latest")
	if n, ok := nodes[lt.a]; !ok {
		t.Errorf("ls --json lacks %s", lt.a)
	} else {
		if n.Type != "file" || n.Size != 6 || os.FileMode(n.Mode).Perm() != 0o640 || !os.FileMode(n.Mode).IsRegular() {
			t.Errorf("ls --json %s: %+v, want a 6-byte file with mode 0640", lt.a, n)
		}
		if mt, err := time.Parse(time.RFC3339Nano, n.Mtime); err != nil || !mt.Equal(lt.aMtime) {
			t.Errorf("ls --json %s: mtime %q (%v), want %s", lt.a, n.Mtime, err, lt.aMtime.Format(time.RFC3339Nano))
		}
	}
	if n := nodes[sub]; n.Type != "dir" || !os.FileMode(n.Mode).IsDir() {
		t.Errorf("ls --json %s: %+v, want a dir", sub, n)
	}
	if n := nodes[lt.link]; n.Type != "symlink" || os.FileMode(n.Mode)&os.ModeSymlink == 0 {
		t.Errorf("ls --json %s: %+v, want a symlink", lt.link, n)
	}
	if n := nodes[lt.c]; n.Size != int64(len(lt.cData)) {
		t.Errorf("ls --json %s: size %d, want %d", lt.c, n.Size, len(lt.cData))
	}

	// find: every snapshot holding a match, "<short_id> <path>".
	r := e.ok("find", "b.txt")
	lines := strings.Split(r.stdout, "\n")
	for _, s := range []snapshot{first, second} {
		if !contains(lines, s.ShortID+" "+lt.b) {
			t.Errorf("find b.txt lacks the line %q:\n%v", s.ShortID+" "+lt.b, r)
		}
	}
	r = e.ok("find", "*.tmp")
	if !strings.Contains(r.stdout, second.ShortID+" "+lt.tmp1) || strings.Contains(r.stdout, first.ShortID+" ") {
		t.Errorf("find *.tmp: want only the second snapshot's %s:\n%v", lt.tmp1, r)
	}
	r = e.ok("find", "--json", "c.bin")
	if !json.Valid([]byte(r.stdout)) && len(jsonLines[map[string]any](t, r)) == 0 {
		t.Errorf("find --json is not JSON:\n%v", r)
	}
	if !strings.Contains(r.stdout, lt.c) {
		t.Errorf("find --json c.bin does not name %s:\n%v", lt.c, r)
	}

	// stats --json
	r = e.ok("stats", "--json")
	raw := lastJSONObject(t, r)
	requireKeys(t, raw, r, "snapshots", "total_size", "blobs", "packs", "repository_size")
	var st map[string]float64
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("stats --json: %v\n%v", err, r)
	}
	if st["snapshots"] != 2 {
		t.Errorf("stats: snapshots=%v, want 2", st["snapshots"])
	}
	for _, k := range []string{"total_size", "blobs", "packs", "repository_size"} {
		if st[k] <= 0 {
			t.Errorf("stats: %s=%v, want > 0", k, st[k])
		}
	}

	// dump
	if r := e.ok("dump", "latest", lt.c); r.stdout != string(lt.cData) {
		t.Errorf("dump latest %s: %d bytes, want the file's %d", lt.c, len(r.stdout), len(lt.cData))
	}
	wantFailure(t, e.run("dump", "latest", filepath.Join(src, "no-such-file")))

	// Full restore (no subpath): absolute paths recreated under the target.
	full := filepath.Join(e.dir, "restore-full")
	e.ok("restore", s2.SnapshotID, "--target", full)
	if got := mustRead(t, filepath.Join(full, lt.c)); string(got) != string(lt.cData) {
		t.Errorf("full restore: %s differs", lt.c)
	}
	compareTrees(t, src, filepath.Join(full, src), compareOpts{ignoreOwner: os.Geteuid() != 0})

	// restore --include / --exclude
	inc := filepath.Join(e.dir, "restore-include")
	e.ok("restore", "latest:"+src, "--target", inc, "--include", "*.txt")
	for rel, want := range map[string]bool{"a.txt": true, "sub/b.txt": true, "sub/c.bin": false, "scratch.tmp": false} {
		_, err := os.Lstat(filepath.Join(inc, rel))
		if got := err == nil; got != want {
			t.Errorf("restore --include '*.txt': %s present=%v, want %v", rel, got, want)
		}
	}
	exc := filepath.Join(e.dir, "restore-exclude")
	e.ok("restore", "latest:"+src, "--target", exc, "--exclude", "c.bin", "--exclude", "*.tmp")
	for rel, want := range map[string]bool{"a.txt": true, "sub/b.txt": true, "sub/c.bin": false, "scratch.tmp": false, "sub/more.tmp": false} {
		_, err := os.Lstat(filepath.Join(exc, rel))
		if got := err == nil; got != want {
			t.Errorf("restore --exclude: %s present=%v, want %v", rel, got, want)
		}
	}
}

// TestQuiet: with -q a successful backup prints nothing at all (cron mails
// whatever is printed), and the snapshot is still written.
func TestQuiet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	smallTree(t, src, 3, 4*kib)
	e.initRepo()
	if r := e.ok("-q", "backup", src); r.stdout != "" || r.stderr != "" {
		t.Errorf("backup -q printed something:\n%v", r)
	}
	if r := e.ok("--quiet", "restore", "latest", "--target", filepath.Join(e.dir, "restore")); r.stdout != "" || r.stderr != "" {
		t.Errorf("restore --quiet printed something:\n%v", r)
	}
	if n := len(e.snapshots()); n != 1 {
		t.Errorf("backup -q: %d snapshots, want 1", n)
	}
}
