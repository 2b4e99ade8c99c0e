package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLatestFilteredByPath: with a library snapshot followed by a database
// snapshot (the order immich-vault's own README example has), "latest" is
// the database one; --path/--host/--tag choose the newest snapshot among the
// matching ones on restore, ls, dump and diff, as in restic. Before, these
// commands had no such flags and `restore latest:/library` failed.
func TestLatestFilteredByPath(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	lib := filepath.Join(e.dir, "library")
	db := filepath.Join(e.dir, "db")
	writeRandomTree(t, lib, 12, 7, nil)
	mustMkdirAll(t, db)
	mustWrite(t, filepath.Join(db, "immich.sql"), []byte("-- dump\n"), 0o644)
	e.backup(exitOK, lib, "--tag", "files")
	e.backup(exitOK, db, "--tag", "db")

	// Unfiltered, latest is the database snapshot: the library path is
	// not in it.
	if r := e.run("restore", "latest:"+lib, "--target", filepath.Join(e.dir, "r0")); r.code == exitOK {
		t.Fatalf("restore latest:%s without a filter found the path in the database snapshot:\n%v", lib, r)
	}
	for _, filter := range [][]string{{"--path", lib}, {"--tag", "files"}} {
		target := filepath.Join(e.dir, "r-"+strings.TrimPrefix(filter[0], "--"))
		e.ok(append([]string{"restore", "latest:" + lib, "--target", target}, filter...)...)
		compareTrees(t, lib, target, compareOpts{})
		paths := e.lsPaths(append([]string{"latest", lib}, filter...)...)
		if len(paths) < 12 {
			t.Errorf("ls latest %s %v: %d entries, want the library's", lib, filter, len(paths))
		}
	}
	files := e.lsPaths("latest", lib, "--path", lib)
	var one string
	for _, p := range files {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && strings.HasPrefix(p, lib+"/") {
			one = p
		}
	}
	if one == "" {
		t.Fatalf("no file listed under %s: %v", lib, files)
	}
	if r := e.ok("dump", "latest", one, "--tag", "files"); r.stdout != string(mustRead(t, one)) {
		t.Errorf("dump latest %s --tag files: %d bytes, want the library file's", one, len(r.stdout))
	}
	if r := e.run("dump", "latest", "/db/immich.sql", "--host", "no-such-host"); r.code == exitOK {
		t.Errorf("dump latest --host no-such-host found a snapshot:\n%v", r)
	}
}
