package ops

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// changedBytesSerial is ChangedBytes as it was before its walk went
// parallel (one filepath.WalkDir): the reference the parallel walk must
// agree with.
func changedBytesSerial(t *testing.T, roots []string, since time.Time) int64 {
	var total int64
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil && !fi.ModTime().Before(since) {
					total += fi.Size()
				} else if err == nil {
					if ct, ok := ctimeOf(fi); ok && !ct.Before(since) {
						t.Errorf("%s: ctime %v at or after since %v: the test's times are wrong", p, ct, since)
					}
				}
			}
			return nil
		})
	}
	return total
}

// TestChangedBytesMatchesSerialWalk: a tree of nested directories (wider
// and deeper than the walkers), old and new files, a file exactly at
// since, symlinks to a directory and a file (not followed), a root that is
// a file, a root that is a symlink and a missing root.
func TestChangedBytesMatchesSerialWalk(t *testing.T) {
	dir := t.TempDir()
	// since lies ahead of every file's ctime (they are written now), so
	// only the modification times decide here; the ctime's part is
	// TestChangedBytesCountsUploadsWithOldMtimes's.
	since := time.Now().Add(time.Hour).Truncate(time.Second)
	old, at, recent := since.Add(-time.Hour), since, since.Add(time.Minute)
	write := func(p string, size int, mtime time.Time) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	tree := filepath.Join(dir, "tree")
	for i := range 40 {
		for j := range 3 {
			p := filepath.Join(tree, "u"+strconv.Itoa(i%4), strconv.Itoa(i), strconv.Itoa(j), "f")
			mt := []time.Time{old, at, recent}[(i+j)%3]
			write(p, 100*i+j+1, mt)
		}
	}
	write(filepath.Join(tree, "top.bin"), 12345, recent)
	if err := os.Symlink(filepath.Join(tree, "u1"), filepath.Join(tree, "link-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(tree, "top.bin"), filepath.Join(tree, "link-file")); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "single")
	write(single, 777, recent)
	rootLink := filepath.Join(dir, "root-link")
	if err := os.Symlink(tree, rootLink); err != nil {
		t.Fatal(err)
	}
	roots := []string{tree, single, rootLink, filepath.Join(dir, "missing")}
	for _, s := range []time.Time{{}, since, recent.Add(time.Second)} {
		want := changedBytesSerial(t, roots, s)
		got, err := ChangedBytes(context.Background(), roots, s)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("since %v: ChangedBytes = %d, the serial walk sums %d", s, got, want)
		}
	}
	if got, _ := ChangedBytes(context.Background(), roots, time.Time{}); got == 0 {
		t.Error("ChangedBytes counted nothing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ChangedBytes(ctx, roots, time.Time{}); err == nil {
		t.Error("ChangedBytes with a cancelled context: no error")
	}
}

// TestChangedBytesCountsUploadsWithOldMtimes: Immich sets an uploaded
// original's modification time to the client's (utimes after the upload,
// server/src/services/asset-media.service.ts), often years before the last
// backup. Such a file is new all the same, and its ctime says so: the
// free-space check counted 0 bytes for a night's import of old photos and
// let the backup fill the disk it shares with Immich's database.
func TestChangedBytesCountsUploadsWithOldMtimes(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "library", "admin", "2015", "2015-06-01")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	before := filepath.Join(lib, "before.jpg")
	if err := os.WriteFile(before, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	taken := time.Date(2015, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(before, taken, taken); err != nil {
		t.Fatal(err)
	}
	// The last backup: after the first file, before the upload. The
	// kernel's ctime clock may lag the wall clock by a tick: a margin.
	time.Sleep(50 * time.Millisecond)
	since := time.Now()
	time.Sleep(50 * time.Millisecond)
	upload := filepath.Join(lib, "IMG_0001.jpg")
	if err := os.WriteFile(upload, make([]byte, 70000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(upload, taken, taken); err != nil {
		t.Fatal(err)
	}
	got, err := ChangedBytes(context.Background(), []string{filepath.Join(dir, "library")}, since)
	if err != nil {
		t.Fatal(err)
	}
	if got != 70000 {
		t.Errorf("ChangedBytes = %d, want the upload's 70000 (not the file from before the backup, both with mtime %v)", got, taken)
	}
	fi, err := os.Lstat(upload)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ctimeOf(fi); !ok {
		t.Fatal("no ctime on this platform")
	}
}

// TestSpaceSinceAllowsAClockAhead: a parent snapshot timed by a clock 20
// minutes ahead of this one (another container with the same hostname)
// lies after the ctime of a file added since; SpaceSince reaches back far
// enough to count it, and no parent still counts everything.
func TestSpaceSinceAllowsAClockAhead(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "new.jpg")
	if err := os.WriteFile(f, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	taken := time.Date(2015, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(f, taken, taken); err != nil {
		t.Fatal(err)
	}
	parent := time.Now().Add(20 * time.Minute)
	if got, _ := ChangedBytes(context.Background(), []string{dir}, parent); got != 0 {
		t.Fatalf("since the parent's own time: %d bytes; the test's premise is that the file is hidden", got)
	}
	if got, _ := ChangedBytes(context.Background(), []string{dir}, SpaceSince(parent)); got != 4096 {
		t.Errorf("since SpaceSince(parent): %d bytes, want 4096", got)
	}
	if !SpaceSince(time.Time{}).IsZero() {
		t.Error("SpaceSince of no parent is not zero")
	}
}
