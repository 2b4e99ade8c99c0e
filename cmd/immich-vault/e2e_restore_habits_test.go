//go:build linux

package main_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// restic's habits on backup and restore: backup --dry-run, restore
// --dry-run, --verify and --delete (issue 15).

// dirState records every entry under root (root excluded) with its type,
// size, mode, mtime and, for regular files, a hash of the content: what a
// command that "writes nothing" must leave as it was. Directory mtimes are
// left out when skipDirMtime is set (a reader lock is stored in and
// removed from the repository's locks/ directory, which changes its mtime
// and nothing else).
func dirState(t *testing.T, root string, skipDirMtime bool) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			line += fmt.Sprintf(" size=%d mtime=%d sha256=%x", fi.Size(), fi.ModTime().UnixNano(), sha256.Sum256(mustRead(t, p)))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case !skipDirMtime:
			line += fmt.Sprintf(" mtime=%d", fi.ModTime().UnixNano())
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// dryRunSummary is backup --dry-run --json's summary line.
type dryRunSummary struct {
	MessageType     string `json:"message_type"`
	DryRun          bool   `json:"dry_run"`
	FilesNew        int64  `json:"files_new"`
	FilesChanged    int64  `json:"files_changed"`
	FilesUnmodified int64  `json:"files_unmodified"`
	DataBlobs       int64  `json:"data_blobs"`
	DataAdded       int64  `json:"data_added"`
}

func (e *env) backupDryRun(args ...string) (dryRunSummary, result) {
	e.t.Helper()
	r := e.run(append([]string{"backup", "--dry-run", "--json"}, args...)...)
	if r.code != exitOK {
		e.t.Fatalf("backup --dry-run: want exit code 0, got:\n%v", r)
	}
	raw := lastJSONObject(e.t, r)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		e.t.Fatalf("summary: %v\n%v", err, r)
	}
	if _, ok := m["snapshot_id"]; ok {
		e.t.Errorf("dry-run summary names a snapshot: %s", raw)
	}
	var s dryRunSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		e.t.Fatalf("summary: %v\n%v", err, r)
	}
	if !s.DryRun || s.MessageType != "summary" {
		e.t.Errorf("dry-run summary: want message_type summary and dry_run true: %s", raw)
	}
	return s, r
}

// TestBackupDryRun: backup --dry-run walks, excludes, chunks and dedups as
// a backup does and writes nothing to the repository (no pack, index,
// snapshot; its reader lock is gone afterwards): the repository's files
// are identical before and after, and what it predicts is what the real
// backup then adds.
func TestBackupDryRun(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	// Below the data profile's 512 KiB minimum chunk: one blob per file,
	// so the bytes added are the sums of the unique files' sizes.
	a, b := randomBytes(1, 100_000), randomBytes(2, 60_000)
	mustWrite(t, filepath.Join(src, "a.jpg"), a, 0o644)
	mustWrite(t, filepath.Join(src, "sub", "b.jpg"), b, 0o644)
	mustWrite(t, filepath.Join(src, "skip.tmp"), randomBytes(3, 10_000), 0o644)

	before := dirState(t, e.repo, true)
	dry, r := e.backupDryRun("--exclude", "*.tmp", src)
	if after := dirState(t, e.repo, true); after != before {
		t.Fatalf("backup --dry-run changed the repository:\nbefore:\n%s\nafter:\n%s\n%v", before, after, r)
	}
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("backup --dry-run wrote %d snapshot(s)", n)
	}
	if dry.FilesNew != 2 || dry.DataAdded != 160_000 || dry.DataBlobs != 2 {
		t.Errorf("first dry run: %+v, want 2 new files (the excluded one left out), 2 blobs, 160000 bytes added\n%v", dry, r)
	}
	real, _ := e.backup(0, "--exclude", "*.tmp", src)
	if real.FilesNew != dry.FilesNew || real.DataAdded != dry.DataAdded {
		t.Errorf("the real backup (%+v) added other than its dry run predicted (%+v)", real, dry)
	}

	// A changed file, a new one, and a copy of a stored one (dedup: adds nothing).
	mustWrite(t, filepath.Join(src, "a.jpg"), randomBytes(4, 100_000), 0o644)
	mustWrite(t, filepath.Join(src, "c.jpg"), randomBytes(5, 40_000), 0o644)
	mustWrite(t, filepath.Join(src, "copy-of-b.jpg"), b, 0o644)
	before = dirState(t, e.repo, true)
	dry, r = e.backupDryRun("--exclude", "*.tmp", src)
	if dry.FilesNew != 2 || dry.FilesChanged != 1 || dry.FilesUnmodified != 1 || dry.DataAdded != 140_000 || dry.DataBlobs != 2 {
		t.Errorf("second dry run: %+v, want 2 new, 1 changed, 1 unmodified, 2 blobs and 140000 bytes added (the copy deduplicated)\n%v", dry, r)
	}
	metrics := filepath.Join(t.TempDir(), "metrics.prom")
	rt := e.ok("backup", "-n", "--exclude", "*.tmp", "--metrics-file", metrics, "--log-file", metrics+".log", src)
	if !strings.Contains(rt.stdout, "Would add to the repository: 137 KiB") || !strings.Contains(rt.stdout, "no snapshot was written") {
		t.Errorf("backup -n text output:\n%v", rt)
	}
	// A dry run is not a backup: a monitor of last_success_timestamp must
	// not see one.
	for _, f := range []string{metrics, metrics + ".log"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("backup --dry-run wrote %s (%v): a dry run records no metrics and no log line", f, err)
		}
	}
	if after := dirState(t, e.repo, true); after != before {
		t.Fatalf("backup --dry-run changed the repository:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if n := len(e.snapshots()); n != 1 {
		t.Fatalf("%d snapshots after dry runs, want the 1 real one", n)
	}
	real, _ = e.backup(0, "--exclude", "*.tmp", src)
	if real.DataAdded != dry.DataAdded || real.FilesChanged != 1 || real.FilesNew != 2 {
		t.Errorf("the real backup (%+v) differs from its dry run (%+v)", real, dry)
	}
}

// restoreSource makes a small tree under src/dir and backs it up: f, a
// multi-chunk big, sub/g and sub2/h. It returns big's content.
func restoreSource(t *testing.T, e *env) (string, []byte) {
	t.Helper()
	src := filepath.Join(e.dir, "src")
	big := randomBytes(7, 5*mib)
	mustWrite(t, filepath.Join(src, "dir", "f"), []byte("snapshot f\n"), 0o644)
	mustWrite(t, filepath.Join(src, "dir", "big"), big, 0o644)
	mustWrite(t, filepath.Join(src, "dir", "sub", "g"), []byte("snapshot g\n"), 0o644)
	mustWrite(t, filepath.Join(src, "dir", "sub2", "h"), []byte("snapshot h\n"), 0o644)
	e.backup(0, src)
	return src, big
}

// TestRestoreDryRun: restore --dry-run writes nothing (a missing target
// is not created; an existing one, and the repository, are unchanged) and
// lists what would be overwritten and deleted.
func TestRestoreDryRun(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src, _ := restoreSource(t, e)
	snapDir := "latest:" + filepath.Join(src, "dir")
	repoBefore := dirState(t, e.repo, true)

	missing := filepath.Join(e.dir, "missing")
	r := e.ok("restore", snapDir, "--target", missing, "--dry-run", "--json")
	var s struct {
		DryRun bool  `json:"dry_run"`
		Files  int64 `json:"files"`
		Dirs   int64 `json:"dirs"`
		Bytes  int64 `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("restore --dry-run --json: %v\n%v", err, r)
	}
	if !s.DryRun || s.Files != 4 || s.Dirs != 3 || s.Bytes != 5*mib+33 {
		t.Errorf("dry run into a missing target: %+v, want 4 files, 3 dirs, %d bytes\n%v", s, 5*mib+33, r)
	}
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("restore --dry-run created its target (%v)", err)
	}

	// An existing target: f differs (same size), an extra file and dir.
	tgt := filepath.Join(e.dir, "target")
	mustWrite(t, filepath.Join(tgt, "f"), []byte("changed f!\n"), 0o644)
	mustWrite(t, filepath.Join(tgt, "extra.txt"), []byte("extra"), 0o644)
	mustWrite(t, filepath.Join(tgt, "sub", "g"), []byte("snapshot g\n"), 0o644)
	mustWrite(t, filepath.Join(tgt, "olddir", "x"), []byte("x"), 0o644)
	before := dirState(t, tgt, false)
	r = e.run("restore", snapDir, "--target", tgt, "--dry-run")
	if wantFailure(t, r) && !strings.Contains(r.output(), "--overwrite") {
		t.Errorf("dry run into a non-empty target without --overwrite: want the restore's refusal\n%v", r)
	}
	r = e.ok("restore", snapDir, "--target", tgt, "--dry-run", "--overwrite", "if-changed", "--delete", "-v")
	for _, want := range []string{
		"would overwrite " + filepath.Join(tgt, "f"),
		"would delete " + filepath.Join(tgt, "extra.txt"),
		"would delete " + filepath.Join(tgt, "olddir"),
		"would restore " + filepath.Join(tgt, "big"),
		"unchanged " + filepath.Join(tgt, "sub", "g"),
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("restore --dry-run output lacks %q\n%v", want, r)
		}
	}
	if strings.Contains(r.stdout, "would delete "+filepath.Join(tgt, "sub", "g")) || strings.Contains(r.stdout, "would delete "+filepath.Join(tgt, "f")) {
		t.Errorf("dry run would delete a file of the snapshot\n%v", r)
	}
	if after := dirState(t, tgt, false); after != before {
		t.Errorf("restore --dry-run changed the target:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if after := dirState(t, e.repo, true); after != repoBefore {
		t.Errorf("restore --dry-run changed the repository:\nbefore:\n%s\nafter:\n%s", repoBefore, after)
	}
}

// TestRestoreVerify: restore --verify reads every restored file back and
// compares it with the snapshot's blob hashes. Every blob is authenticated
// while restoring, so what verify can catch is a change after the write:
// the test changes bytes in the middle of a restored multi-chunk file
// (same size, same mtime: only reading the content tells) between the
// restore and the verification (the binary's test hook waits for it), and
// replaces a file by a symlink to a file of identical content outside the
// target (verify must not follow it).
func TestRestoreVerify(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src, big := restoreSource(t, e)
	snapDir := "latest:" + filepath.Join(src, "dir")

	ok := filepath.Join(e.dir, "ok")
	r := e.ok("restore", snapDir, "--target", ok, "--verify")
	if !strings.Contains(r.stdout, "verified 4 files") || !strings.Contains(r.stdout, "0 differ") {
		t.Errorf("restore --verify of a good restore:\n%v", r)
	}

	tgt := filepath.Join(e.dir, "target")
	marker := filepath.Join(e.dir, "before-verify")
	done := make(chan result, 1)
	go func() {
		done <- e.runOpts(opts{extraEnv: []string{"IMMICH_VAULT_TEST_BEFORE_VERIFY=" + marker}},
			"restore", snapDir, "--target", tgt, "--verify", "--json")
	}()
	deadline := time.Now().Add(cmdTimeout)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("restore --verify ended before verifying (the hook never fired):\n%v", r)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("restore --verify did not reach its verification within %v", cmdTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	bigPath := filepath.Join(tgt, "big")
	if got := mustRead(t, bigPath); string(got) != string(big) {
		t.Fatalf("the restore itself wrote wrong content into big")
	}
	fi, err := os.Stat(bigPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(bigPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("bit rot"), 3*mib+17); err != nil {
		t.Fatal(err)
	}
	f.Close()
	setMtime(t, bigPath, fi.ModTime())
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	r = <-done
	if wantCode(t, r, exitFailure) {
		var s struct {
			VerifiedFiles int64    `json:"verified_files"`
			Mismatched    []string `json:"verify_mismatched"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
			t.Fatalf("restore --verify --json: %v\n%v", err, r)
		}
		if s.VerifiedFiles != 4 || len(s.Mismatched) != 1 || s.Mismatched[0] != bigPath {
			t.Errorf("verify: %+v, want 4 files verified and only %s differing\n%v", s, bigPath, r)
		}
		if !strings.Contains(r.stderr, "differ from the snapshot") {
			t.Errorf("no message about the difference:\n%v", r)
		}
	}

	// A symlink in place of a file, to a file holding exactly its content.
	outside := filepath.Join(e.dir, "outside-f")
	mustWrite(t, outside, []byte("snapshot f\n"), 0o644)
	fPath := filepath.Join(ok, "f")
	if err := os.Remove(fPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, fPath); err != nil {
		t.Fatal(err)
	}
	r = e.run("restore", snapDir, "--target", ok, "--overwrite", "never", "--verify")
	if wantCode(t, r, exitFailure) && !strings.Contains(r.stderr, fPath+": differs from the snapshot") {
		t.Errorf("verify followed (or ignored) a symlink in place of a restored file:\n%v", r)
	}
}

// TestRestoreDelete: restore --delete removes what the target holds beyond
// the restored sub-path's content (files, directories, symlinks: the links
// themselves, never what they point at), keeps everything in the snapshot
// and what the filters leave out, and never reaches outside the target
// through a symlink.
func TestRestoreDelete(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src, big := restoreSource(t, e)
	snapDir := "latest:" + filepath.Join(src, "dir")

	outside := filepath.Join(e.dir, "outside")
	mustWrite(t, filepath.Join(outside, "precious"), []byte("precious\n"), 0o600)
	mustWrite(t, filepath.Join(outside, "h"), []byte("outside h\n"), 0o600)
	mustWrite(t, filepath.Join(outside, "sub", "deep"), []byte("deep\n"), 0o600)
	outsideBefore := outsideState(t, outside)

	tgt := filepath.Join(e.dir, "target")
	mustWrite(t, filepath.Join(tgt, "f"), []byte("stale f\n"), 0o644)
	mustWrite(t, filepath.Join(tgt, "extra.txt"), []byte("extra"), 0o644)
	mustWrite(t, filepath.Join(tgt, "notes.keep"), []byte("excluded by the filter: kept"), 0o644)
	mustWrite(t, filepath.Join(tgt, "sub", "extra2"), []byte("extra2"), 0o644)
	mustWrite(t, filepath.Join(tgt, "sub", "olddir", "x"), []byte("x"), 0o644)
	// Extra symlinks to a directory and a file outside, and one in place
	// of the snapshot's directory sub2.
	for name, to := range map[string]string{"escape": outside, "escape-file": filepath.Join(outside, "precious"), "sub2": outside} {
		if err := os.Symlink(to, filepath.Join(tgt, name)); err != nil {
			t.Fatal(err)
		}
	}
	neighbour := filepath.Join(e.dir, "neighbour")
	mustWrite(t, neighbour, []byte("next to the target"), 0o644)

	before := dirState(t, tgt, false)
	r := e.ok("restore", snapDir, "--target", tgt, "--overwrite", "if-changed", "--delete", "--dry-run", "--exclude", "*.keep")
	for _, name := range []string{"extra.txt", "sub/extra2", "sub/olddir", "escape", "escape-file"} {
		if !strings.Contains(r.stdout, "would delete "+filepath.Join(tgt, name)+"\n") {
			t.Errorf("dry run does not list %s for deletion\n%v", name, r)
		}
	}
	if strings.Contains(r.stdout, "notes.keep") {
		t.Errorf("dry run would delete a file the filter excludes\n%v", r)
	}
	if after := dirState(t, tgt, false); after != before {
		t.Fatalf("restore --delete --dry-run changed the target:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	r = e.run("restore", snapDir, "--target", tgt, "--overwrite", "if-changed", "--delete", "--exclude", "*.keep", "--json")
	if !wantCode(t, r, exitOK) {
		t.FailNow()
	}
	var s struct {
		Deleted int64 `json:"deleted"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Deleted != 5 {
		t.Errorf("restore --delete --json: deleted %d (%v), want 5\n%v", s.Deleted, err, r)
	}
	got := map[string]string{}
	for rel, n := range scanTree(t, tgt) {
		kind := "dir"
		switch {
		case n.Mode.IsRegular():
			kind = string(mustRead(t, filepath.Join(tgt, rel)))
			if rel == "big" {
				kind = fmt.Sprintf("big equal=%v", kind == string(big))
			}
		case n.Mode&fs.ModeSymlink != 0:
			kind = "symlink"
		}
		got[rel] = kind
	}
	want := map[string]string{
		"f": "snapshot f\n", "big": "big equal=true", "sub": "dir", "sub/g": "snapshot g\n",
		"sub2": "dir", "sub2/h": "snapshot h\n", "notes.keep": "excluded by the filter: kept",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("target after restore --delete:\n got %v\nwant %v", got, want)
	}
	if after := outsideState(t, outside); after != outsideBefore {
		t.Errorf("restore --delete changed a directory outside the target:\nbefore:\n%s\nafter:\n%s", outsideBefore, after)
	}
	if string(mustRead(t, neighbour)) != "next to the target" {
		t.Errorf("restore --delete changed a file next to the target")
	}

	// A single file has no directory to mirror.
	r = e.run("restore", "latest:"+filepath.Join(src, "dir", "f"), "--target", filepath.Join(e.dir, "one"), "--delete")
	if wantFailure(t, r) && !strings.Contains(r.output(), "--delete") {
		t.Errorf("restore --delete of a single file:\n%v", r)
	}
}

// TestRestoreDeleteSplitDirectory: --delete, --dry-run and --verify on a
// directory stored split across several tree blobs (format 2, a small
// split threshold): extra entries whose names fall inside and between
// every part's range are found and removed, none of the snapshot's.
func TestRestoreDeleteSplitDirectory(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	o := opts{extraEnv: []string{"IMMICH_VAULT_TEST_TREE_SPLIT=4096"}}
	src := filepath.Join(e.dir, "src")
	const n = 3000
	for i := 0; i < n; i++ {
		mustWrite(t, filepath.Join(src, fmt.Sprintf("f%05d", 2*i)), []byte(fmt.Sprint(i)), 0o644)
	}
	e.backupOpts(o, 0, src)
	tgt := filepath.Join(e.dir, "target")
	e.okOpts(o, "restore", "latest:"+src, "--target", tgt)
	var extras []string
	for i := 0; i < n; i += 7 { // odd numbers: between the snapshot's names
		name := fmt.Sprintf("f%05d", 2*i+1)
		extras = append(extras, name)
		mustWrite(t, filepath.Join(tgt, name), []byte("extra"), 0o644)
	}
	extras = append(extras, "zzz-after-the-last")
	mustWrite(t, filepath.Join(tgt, "zzz-after-the-last"), []byte("extra"), 0o644)

	before := dirState(t, tgt, false)
	r := e.okOpts(o, "restore", "latest:"+src, "--target", tgt, "--overwrite", "if-changed", "--delete", "--dry-run", "--json")
	var s struct {
		Files, Skipped, Deleted int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Deleted != int64(len(extras)) || s.Skipped != n || s.Files != 0 {
		t.Errorf("dry run: %+v (%v), want %d deleted, %d unchanged, 0 to restore\n%v", s, err, len(extras), n, r)
	}
	if after := dirState(t, tgt, false); after != before {
		t.Fatalf("dry run changed the target")
	}
	r = e.okOpts(o, "restore", "latest:"+src, "--target", tgt, "--overwrite", "if-changed", "--delete", "--verify")
	if !strings.Contains(r.stdout, fmt.Sprintf("deleted %d entries", len(extras))) || !strings.Contains(r.stdout, fmt.Sprintf("verified %d files", n)) {
		t.Errorf("restore --delete --verify:\n%v", r)
	}
	left := scanTree(t, tgt)
	if len(left) != n {
		t.Errorf("%d entries left in the target, want the snapshot's %d", len(left), n)
	}
	for _, x := range extras {
		if _, ok := left[x]; ok {
			t.Errorf("extra %s not deleted", x)
		}
	}
}
