package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Directories of any size (docs/FORMAT.md §9.3, format 2). make test runs
// TestBigDirectory with 50,000 entries and a 256 KiB split threshold
// (IMMICH_VAULT_TEST_TREE_SPLIT), so the directory is stored as ~200
// parts; IV_BIGDIR_ENTRIES=1000000 runs it with a million entries and the
// program's own threshold, and logs wall time and peak RSS of backup and
// restore (the figures in BENCHMARKS.md).

// bigDirEntries is the size of TestBigDirectory's directory.
func bigDirEntries(t *testing.T) (n int, full bool) {
	if v := os.Getenv("IV_BIGDIR_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("IV_BIGDIR_ENTRIES=%q: want a number of at least 1000", v)
		}
		return n, true
	}
	return 50_000, false
}

// makeBigDir writes n files into dir: empty ones, and every 1000th with
// its own content.
func makeBigDir(t *testing.T, dir string, n int) {
	t.Helper()
	mustMkdirAll(t, dir)
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("IMG_%07d.jpg", i))
		var data []byte
		if i%1000 == 0 {
			data = []byte(strings.Repeat(name, 50))
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sameDir compares the names, sizes and (for files with content) contents
// of two directories of files.
func sameDir(t *testing.T, want, got string) {
	t.Helper()
	a, err := os.ReadDir(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadDir(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("restored directory has %d entries, the source %d", len(b), len(a))
	}
	for i := range a {
		if a[i].Name() != b[i].Name() {
			t.Fatalf("entry %d: restored %q, source %q", i, b[i].Name(), a[i].Name())
		}
		ia, _ := a[i].Info()
		ib, _ := b[i].Info()
		if ia.Size() != ib.Size() || ia.IsDir() != ib.IsDir() {
			t.Fatalf("%s: restored size %d dir %v, source %d %v", a[i].Name(), ib.Size(), ib.IsDir(), ia.Size(), ia.IsDir())
		}
		if ia.Size() > 0 && string(mustRead(t, filepath.Join(want, a[i].Name()))) != string(mustRead(t, filepath.Join(got, b[i].Name()))) {
			t.Fatalf("%s: restored content differs", a[i].Name())
		}
	}
}

// TestBigDirectory backs up, lists, checks and restores one directory of
// 50,000 entries (1,000,000 with IV_BIGDIR_ENTRIES) through the binary; a
// second backup after one file changed stores a few parts, not the
// directory again.
func TestBigDirectory(t *testing.T) {
	n, full := bigDirEntries(t)
	e := newEnv(t)
	o := opts{timeout: 3 * time.Minute}
	if full {
		o.timeout = time.Hour
	} else {
		o.extraEnv = []string{"IMMICH_VAULT_TEST_TREE_SPLIT=262144"}
	}
	e.okOpts(o, "init")
	src := filepath.Join(e.dir, "src")
	big := filepath.Join(src, "big")
	start := time.Now()
	makeBigDir(t, big, n)
	mustWrite(t, filepath.Join(src, "small", "a.txt"), []byte("a"), 0o644)
	t.Logf("%d files written in %v", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	sum1, r := e.backupOpts(o, exitOK, src)
	t.Logf("backup of %d entries: %v, peak RSS %d MiB", n, time.Since(start).Round(time.Millisecond), r.peakRSS>>20)
	if sum1.FilesNew != int64(n)+1 {
		t.Fatalf("backup: %d new files, want %d\n%v", sum1.FilesNew, n+1, r)
	}
	var first struct {
		DataAddedPacked int64 `json:"data_added_packed"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &first); err != nil {
		t.Fatal(err)
	}

	// ls sees every entry, in order.
	r = e.runOpts(o, "ls", "latest", big)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitOK || len(lines) != n || !strings.HasSuffix(lines[0], "/big/IMG_0000000.jpg") || !strings.HasSuffix(lines[n-1], fmt.Sprintf("/big/IMG_%07d.jpg", n-1)) {
		t.Fatalf("ls: exit %d, %d lines (want %d): %q ... %q\n%s", r.code, len(lines), n, lines[:min(3, len(lines))], lines[len(lines)-1], r.stderr)
	}
	e.okOpts(o, "check")

	// Restore.
	target := filepath.Join(e.dir, "restored")
	start = time.Now()
	r = e.okOpts(o, "restore", "latest", "--path", src, "--target", target, "--include", big)
	t.Logf("restore of %d entries: %v, peak RSS %d MiB", n, time.Since(start).Round(time.Millisecond), r.peakRSS>>20)
	restoredBig := filepath.Join(target, strings.TrimPrefix(big, "/"))
	if _, err := os.Stat(restoredBig); err != nil {
		restoredBig = filepath.Join(target, "big") // restored below the chosen path
	}
	sameDir(t, big, restoredBig)

	// One file changed: the second backup stores the part holding it and
	// the index, a small share of what the first stored.
	mustWrite(t, filepath.Join(big, fmt.Sprintf("IMG_%07d.jpg", n/2)), []byte("changed"), 0o644)
	start = time.Now()
	sum2, r := e.backupOpts(o, exitOK, src)
	t.Logf("incremental backup (one file changed): %v, peak RSS %d MiB", time.Since(start).Round(time.Millisecond), r.peakRSS>>20)
	var second struct {
		DataAddedPacked int64 `json:"data_added_packed"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &second); err != nil {
		t.Fatal(err)
	}
	t.Logf("stored: first backup %d bytes, second %d bytes", first.DataAddedPacked, second.DataAddedPacked)
	// The changed part is stored again, and the next one when the change
	// moves a split boundary: 10.4-11.2 KB in most runs, 17.9 KB in one CI
	// run (5.3 %: the bound of 5 % failed it), the whole directory ~100 %.
	if sum2.FilesChanged != 1 || second.DataAddedPacked*10 > first.DataAddedPacked {
		t.Errorf("second backup: %d files changed, %d bytes stored; want 1 file and under 10%% of the first backup's %d bytes (the directory's changed parts, not the whole directory)",
			sum2.FilesChanged, second.DataAddedPacked, first.DataAddedPacked)
	}
	r = e.runOpts(o, "diff", sum1.SnapshotID, sum2.SnapshotID)
	var changes []string // not counting directories' metadata ("U": their mtimes change as the test writes)
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasPrefix(l, "U ") {
			changes = append(changes, strings.Join(strings.Fields(l), " "))
		}
	}
	if r.code != exitOK || len(changes) != 1 || changes[0] != fmt.Sprintf("M %s/IMG_%07d.jpg", big, n/2) {
		t.Errorf("diff: changes %q\n%v", changes, r)
	}
	e.okOpts(o, "check", "--read-data")
}

// TestBigDirectoryV1 backs up the same kind of directory into a format 1
// repository (init --repository-version 1): it is stored as one tree, as
// programs older than split directories expect, and the marker says 1.
func TestBigDirectoryV1(t *testing.T) {
	e := newEnv(t)
	o := opts{extraEnv: []string{"IMMICH_VAULT_TEST_TREE_SPLIT=262144"}}
	e.okOpts(o, "init", "--repository-version", "1")
	if m := string(mustRead(t, filepath.Join(e.repo, "immich-vault"))); !strings.Contains(m, `"version":1`) {
		t.Fatalf("marker of a version 1 repository: %s", m)
	}
	src := filepath.Join(e.dir, "src")
	makeBigDir(t, filepath.Join(src, "big"), 20_000)
	sum1, _ := e.backupOpts(o, exitOK, src)
	mustWrite(t, filepath.Join(src, "big", "IMG_0010000.jpg"), []byte("changed"), 0o644)
	// Unsplit, the whole directory's tree is stored again.
	_, r := e.backupOpts(o, exitOK, src)
	var second struct {
		DataAddedPacked int64 `json:"data_added_packed"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &second); err != nil {
		t.Fatal(err)
	}
	if second.DataAddedPacked < 50_000 {
		t.Errorf("version 1: the second backup stored %d bytes, less than the directory's tree: was it split?", second.DataAddedPacked)
	}
	e.okOpts(o, "check")
	_ = sum1
	if r := newEnv(t).run("init", "--repository-version", "3"); r.code == exitOK || !strings.Contains(r.stderr, "--repository-version 3") {
		t.Errorf("init --repository-version 3:\n%v", r)
	}
}
