package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// diffLines runs `diff SNAP1 SNAP2` and returns its lines.
func (e *env) diffLines(a, b string) []string {
	e.t.Helper()
	r := e.ok("diff", a, b)
	return strings.Split(r.stdout, "\n")
}

func wantLine(t *testing.T, lines []string, want string) {
	t.Helper()
	if !contains(lines, want) {
		t.Errorf("diff output lacks the line %q; got:\n%s", want, strings.Join(lines, "\n"))
	}
}

func wantNoLineWith(t *testing.T, lines []string, substr string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, substr) {
			t.Errorf("diff output has the unexpected line %q", l)
		}
	}
}

// TestIncrementalBackup checks the summaries of unchanged, modified and
// moved trees, and diff between the snapshots.
func TestIncrementalBackup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	const nFiles = 30
	var contentSize int64
	var paths []string
	for i := range nFiles {
		p := filepath.Join(src, "photos", fmt.Sprintf("IMG_%04d.jpg", i))
		data := randomBytes(uint64(100+i), 100*kib+i*37*kib)
		mustWrite(t, p, data, 0o644)
		contentSize += int64(len(data))
		paths = append(paths, p)
	}
	e.initRepo()

	s1, _ := e.backup(exitOK, src)
	if s1.FilesNew != nFiles {
		t.Errorf("first backup: files_new=%d, want %d", s1.FilesNew, nFiles)
	}
	if s1.DataAdded <= 0 || s1.BytesProcessed < contentSize {
		t.Errorf("first backup: data_added=%d bytes_processed=%d for %d bytes of content",
			s1.DataAdded, s1.BytesProcessed, contentSize)
	}
	if s1.Dirs < 2 {
		t.Errorf("first backup: dirs=%d, want >= 2 (src and src/photos)", s1.Dirs)
	}

	// Nothing changed.
	s2, _ := e.backup(exitOK, src)
	if s2.FilesUnmodified != nFiles || s2.FilesNew != 0 || s2.FilesChanged != 0 {
		t.Errorf("unchanged backup: files_new=%d files_changed=%d files_unmodified=%d, want 0/0/%d",
			s2.FilesNew, s2.FilesChanged, s2.FilesUnmodified, nFiles)
	}
	if limit := contentSize / 100; s2.DataAdded > limit {
		t.Errorf("unchanged backup: data_added=%d, want <= %d (1%% of the content)", s2.DataAdded, limit)
	}
	if s2.SnapshotID == s1.SnapshotID {
		t.Errorf("the second backup reports the first snapshot's id %s", s1.SnapshotID)
	}

	// One file modified (grown, so that size alone tells it changed).
	changed := paths[3]
	f, err := os.OpenFile(changed, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(randomBytes(5555, 10*kib)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s3, _ := e.backup(exitOK, src)
	if s3.FilesChanged != 1 || s3.FilesUnmodified != nFiles-1 || s3.FilesNew != 0 {
		t.Errorf("one file modified: files_new=%d files_changed=%d files_unmodified=%d, want 0/1/%d",
			s3.FilesNew, s3.FilesChanged, s3.FilesUnmodified, nFiles-1)
	}
	lines := e.diffLines(s2.SnapshotID, s3.SnapshotID)
	wantLine(t, lines, "M    "+changed)
	wantNoLineWith(t, lines, paths[4])

	// One file added, one removed.
	added := filepath.Join(src, "photos", "NEW_0001.jpg")
	mustWrite(t, added, randomBytes(777, 50*kib), 0o644)
	removed := paths[7]
	if err := os.Remove(removed); err != nil {
		t.Fatal(err)
	}
	s4, _ := e.backup(exitOK, src)
	if s4.FilesNew != 1 {
		t.Errorf("one file added: files_new=%d, want 1", s4.FilesNew)
	}
	lines = e.diffLines(s3.SnapshotID, s4.SnapshotID)
	wantLine(t, lines, "+    "+added)
	wantLine(t, lines, "-    "+removed)
	wantNoLineWith(t, lines, paths[4])

	// Every file moved to a new directory (Immich's storage-template
	// migration): nothing may be uploaded again.
	moved := filepath.Join(src, "library", "admin", "2024")
	mustMkdirAll(t, moved)
	entries, err := os.ReadDir(filepath.Join(src, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		if err := os.Rename(filepath.Join(src, "photos", de.Name()), filepath.Join(moved, de.Name())); err != nil {
			t.Fatal(err)
		}
	}
	s5, _ := e.backup(exitOK, src)
	if limit := contentSize / 20; s5.DataAdded > limit {
		t.Errorf("after moving every file: data_added=%d, want <= %d (5%% of %d bytes of content)",
			s5.DataAdded, limit, contentSize)
	}
	t.Logf("moved-files backup: files_new=%d data_added=%d bytes_processed=%d", s5.FilesNew, s5.DataAdded, s5.BytesProcessed)
	lines = e.diffLines(s4.SnapshotID, s5.SnapshotID)
	wantLine(t, lines, "-    "+paths[0])
	wantLine(t, lines, "+    "+filepath.Join(moved, filepath.Base(paths[0])))

	// Every snapshot still restores its own state: the moved one, bit-identical.
	dst := filepath.Join(e.dir, "restore")
	e.ok("restore", s5.SnapshotID+":"+src, "--target", dst)
	compareTrees(t, src, dst, compareOpts{ignoreOwner: os.Geteuid() != 0})
	if n := len(e.snapshots()); n != 5 {
		t.Errorf("want 5 snapshots, got %d", n)
	}
}
