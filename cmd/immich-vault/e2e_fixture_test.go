package main_test

import (
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The v1 fixture is a small repository written by format version 1 and kept
// forever: every later version must open it, check it and restore it
// bit-identical. Regenerate it ONLY when introducing it (never to make a
// later format change pass):
//
//	go test ./cmd/immich-vault -run TestFormatV1Fixture -args -update-fixture
var updateFixture = flag.Bool("update-fixture", false, "rewrite testdata/repo-v1 with the current binary (format v1 only)")

const (
	fixtureDir      = "testdata/repo-v1"
	fixturePassword = "immich-vault format v1 fixture"
	fixtureHost     = "fixture-host"
	fixtureTag      = "fixture-v1"
)

// writeFixtureSource creates the fixture's source tree deterministically:
// the same bytes, modes, links and mtimes on every run.
func writeFixtureSource(t *testing.T, src string) {
	t.Helper()
	mustWrite(t, filepath.Join(src, "empty"), nil, 0o644)
	mustWrite(t, filepath.Join(src, "one-byte"), []byte{'x'}, 0o600)
	mustWrite(t, filepath.Join(src, "photos", "IMG_0001.jpg"), randomBytes(2024, 300*kib), 0o644)
	mustWrite(t, filepath.Join(src, "photos", "IMG_0001.jpg.xmp"),
		[]byte(strings.Repeat("<x:xmpmeta>fixture sidecar</x:xmpmeta>\n", 200)), 0o644)
	mustWrite(t, filepath.Join(src, "db", "dump.sql"),
		[]byte(strings.Repeat("INSERT INTO asset VALUES (1, 'upload/library/admin/IMG_0001.jpg');\n", 500)), 0o640)
	mustWrite(t, filepath.Join(src, "private", "ünïcødé name with spaces.txt"), []byte("private\n"), 0o600)
	if err := os.Chmod(filepath.Join(src, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	mustMkdirAll(t, filepath.Join(src, "empty-dir"))
	if err := os.Symlink("photos/IMG_0001.jpg", filepath.Join(src, "link-relative")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(src, "link-dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "one-byte"), filepath.Join(src, "db", "hardlink-to-one-byte")); err != nil {
		t.Fatal(err)
	}
	setAllMtimes(t, src, time.Date(2024, 6, 1, 12, 0, 0, 123456789, time.UTC))
}

// copyDir copies a repository directory (regular files and dirs only).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if !d.Type().IsRegular() {
			t.Fatalf("fixture holds a non-regular file %s", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// removeEmptyDirs removes the empty directories under root, deepest first.
func removeEmptyDirs(t *testing.T, root string) {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(dirs) - 1; i > 0; i-- {
		if ents, err := os.ReadDir(dirs[i]); err == nil && len(ents) == 0 {
			if err := os.Remove(dirs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFormatV1Fixture opens, checks and restores the repository written by
// format v1 that lives in testdata.
func TestFormatV1Fixture(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.password = fixturePassword

	if *updateFixture {
		src := filepath.Join(e.dir, "src")
		writeFixtureSource(t, src)
		e.initRepo()
		e.backup(exitOK, "--host", fixtureHost, "--tag", fixtureTag, src)
		if err := os.RemoveAll(fixtureDir); err != nil {
			t.Fatal(err)
		}
		// Locks are transient and must not be part of the fixture.
		os.RemoveAll(filepath.Join(e.repo, "locks"))
		copyDir(t, e.repo, fixtureDir)
		removeEmptyDirs(t, fixtureDir) // git keeps no empty directories
		out, _ := exec.Command("du", "-sh", fixtureDir).CombinedOutput()
		t.Logf("wrote %s (%s); commit it", fixtureDir, strings.TrimSpace(string(out)))
	}

	if _, err := os.Stat(filepath.Join(fixtureDir, "immich-vault")); err != nil {
		t.Fatalf("the format v1 fixture is missing (%v): generate it once with "+
			"`go test ./cmd/immich-vault -run TestFormatV1Fixture -args -update-fixture` and commit %s", err, fixtureDir)
	}
	var marker struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(fixtureDir, "immich-vault")), &marker); err != nil ||
		marker.Format != "immich-vault" || marker.Version != 1 {
		t.Fatalf("fixture marker: %+v, %v; want format immich-vault version 1", marker, err)
	}

	// Work on a copy: opening may write locks and the cache.
	e.repo = filepath.Join(e.dir, "repo-v1")
	copyDir(t, fixtureDir, e.repo)
	wantCode(t, e.run("check", "--read-data"), exitOK)

	snaps := e.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("fixture: %d snapshots, want 1", len(snaps))
	}
	s := snaps[0]
	if s.Host != fixtureHost || !contains(s.Tags, fixtureTag) || len(s.Paths) != 1 || s.Partial {
		t.Errorf("fixture snapshot: %+v", s)
	}

	want := filepath.Join(e.dir, "expected")
	writeFixtureSource(t, want)
	dst := filepath.Join(e.dir, "restore")
	e.ok("restore", s.ShortID+":"+s.Paths[0], "--target", dst)
	// The fixture was written as root; owners are compared when we are root.
	compareTrees(t, want, dst, compareOpts{ignoreOwner: os.Geteuid() != 0})

	r := e.ok("dump", "latest", s.Paths[0]+"/db/dump.sql")
	if r.stdout != string(mustRead(t, filepath.Join(want, "db", "dump.sql"))) {
		t.Errorf("dump of the fixture's db/dump.sql differs")
	}
}
