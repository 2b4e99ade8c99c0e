package archiver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src, want := repotest.SourceTree(t)
	if err := os.Chmod(filepath.Join(src, "a.txt"), 0o640); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "sub", "b.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	dump := []byte(strings.Repeat("INSERT INTO assets VALUES (1);\n", 3000))
	sn := repotest.Backup(t, r, archiver.BackupOptions{
		Paths:   []string{src},
		Streams: []archiver.Stream{{Path: "/immich/db.sql", Reader: newEventReader("db", dump, new([]string))}},
		Tags:    []string{"t1"},
		Host:    "testhost",
	})
	if sn.Summary.FilesNew != 7 || sn.Summary.Dirs != 4 {
		t.Errorf("summary: %d new files, %d dirs; want 7 (6 regular files and the stream), 4", sn.Summary.FilesNew, sn.Summary.Dirs)
	}
	if !slices.Equal(sn.Paths, []string{"/immich/db.sql", src}) {
		t.Errorf("snapshot paths %v", sn.Paths)
	}
	if sn.Host != "testhost" || !sn.HasTag("t1") || sn.ID().IsNull() {
		t.Errorf("snapshot host %q tags %v id %v", sn.Host, sn.Tags, sn.ID())
	}

	target := t.TempDir()
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target})
	if res.Errors != 0 || len(res.Damaged) != 0 {
		t.Fatalf("restore: %+v", res)
	}
	repotest.DiffTrees(t, want, repotest.ReadTree(t, filepath.Join(target, src)))
	got, err := os.ReadFile(filepath.Join(target, "immich", "db.sql"))
	if err != nil || string(got) != string(dump) {
		t.Fatalf("restored stream: %d bytes, err %v", len(got), err)
	}
	fi, err := os.Stat(filepath.Join(target, src, "a.txt"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("restored mode %v, err %v; want 0640", fi.Mode(), err)
	}
	fi, err = os.Stat(filepath.Join(target, src, "sub", "b.txt"))
	if err != nil || !fi.ModTime().Equal(mtime) {
		t.Errorf("restored mtime %v, want %v", fi.ModTime(), mtime)
	}
	fi, err = os.Stat(filepath.Join(target, "immich", "db.sql"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stream mode %v, want 0600", fi.Mode())
	}

	st, err := r.Stats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Regular files: a.txt empty b.txt c.bin dup.bin d.txt db.sql = 7;
	// c.bin and dup.bin share content.
	if st.Snapshots != 1 || st.Files != 7 || st.UniqueFiles != 6 {
		t.Errorf("Stats: %+v", st)
	}
}

func TestStreamsBeforeFiles(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "library")
	repotest.WriteFiles(t, src, map[string]string{"asset.jpg": "before the dump"})
	var log []string
	streams := []archiver.Stream{
		{Path: "/db/a.sql", Reader: newEventReader("a", []byte("dump a"), &log),
			Done: func() error {
				log = append(log, "done a")
				// A file the dump describes appears only after the dump:
				// it must be in the snapshot (files are read after streams).
				return os.WriteFile(filepath.Join(src, "asset.jpg"), []byte("written by the dump's Done"), 0o644)
			}},
		{Path: "/db/b.sql", Reader: newEventReader("b", []byte("dump b"), &log),
			Done: func() error { log = append(log, "done b"); return nil }},
	}
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Streams: streams})
	want := []string{"read a", "eof a", "done a", "read b", "eof b", "done b"}
	if !slices.Equal(log, want) {
		t.Fatalf("stream events %v, want %v", log, want)
	}
	target := t.TempDir()
	repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	got, err := os.ReadFile(filepath.Join(target, "asset.jpg"))
	if err != nil || string(got) != "written by the dump's Done" {
		t.Fatalf("file written by Done: %q, %v (was it read before the streams?)", got, err)
	}
	ids, err := r.SnapshotIDs(ctx)
	if err != nil || len(ids) != 1 {
		t.Fatalf("SnapshotIDs = %v, %v", ids, err)
	}
}

func TestStreamDoneErrorWritesNoSnapshot(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src, _ := repotest.SourceTree(t)
	repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	before, err := r.SnapshotIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dumpFailed := errors.New("pg_dump exited with status 1")
	var log []string
	_, err = archiver.Backup(ctx, r, archiver.BackupOptions{
		Paths: []string{src},
		Streams: []archiver.Stream{{Path: "/db.sql", Reader: newEventReader("db", []byte("partial dump"), &log),
			Done: func() error { log = append(log, "done"); return dumpFailed }}},
	})
	if !errors.Is(err, dumpFailed) {
		t.Fatalf("Backup = %v, want the Done error", err)
	}
	if !slices.Contains(log, "done") {
		t.Fatalf("Done was not called: %v", log)
	}
	after, err := r.SnapshotIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("snapshots changed after a failed stream: %v -> %v", before, after)
	}
}

func TestBackupOptionErrors(t *testing.T) {
	r := repotest.New(t)
	src, _ := repotest.SourceTree(t)
	for name, opts := range map[string]archiver.BackupOptions{
		"nothing":          {},
		"relative stream":  {Streams: []archiver.Stream{{Path: "db.sql", Reader: strings.NewReader("")}}},
		"unclean stream":   {Streams: []archiver.Stream{{Path: "/a/../db.sql", Reader: strings.NewReader("")}}},
		"root stream":      {Streams: []archiver.Stream{{Path: "/", Reader: strings.NewReader("")}}},
		"stream in path":   {Paths: []string{src}, Streams: []archiver.Stream{{Path: src + "/db.sql", Reader: strings.NewReader("")}}},
		"duplicate stream": {Streams: []archiver.Stream{{Path: "/x", Reader: strings.NewReader("")}, {Path: "/x", Reader: strings.NewReader("")}}},
	} {
		if sn, err := archiver.Backup(context.Background(), r, opts); err == nil {
			t.Errorf("%s: Backup succeeded with snapshot %v", name, sn.ID().Short())
		}
	}
}

func TestIncrementalBackup(t *testing.T) {
	r := repotest.New(t)
	src, _ := repotest.SourceTree(t)
	first := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	if first.Summary.BytesRead == 0 || first.Summary.DataBlobs == 0 {
		t.Fatalf("first backup read nothing: %+v", first.Summary)
	}
	const nFiles = 6 // regular files incl. the empty one
	second := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Parent: first})
	s := second.Summary
	if s.FilesUnmodified != nFiles || s.BytesRead != 0 || s.FilesNew != 0 || s.FilesChanged != 0 {
		t.Fatalf("incremental summary: %+v", s)
	}
	if s.BytesProcessed != first.Summary.BytesProcessed {
		t.Errorf("BytesProcessed %d, first backup %d", s.BytesProcessed, first.Summary.BytesProcessed)
	}
	// Compare the tree of src, not the root: the intermediate directories
	// (/tmp...) are recorded with their current metadata, which other
	// processes change.
	if repotest.Subtree(t, r, second, src) != repotest.Subtree(t, r, first, src) {
		t.Errorf("unchanged source gave a different tree")
	}
	if second.Parent == nil || *second.Parent != first.ID() {
		t.Errorf("Parent = %v, want %v", second.Parent, first.ID())
	}

	// Change one file: only it is read.
	p := filepath.Join(src, "sub", "b.txt")
	if err := os.WriteFile(p, []byte("changed content"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Parent: second})
	if s := third.Summary; s.FilesChanged != 1 || s.FilesUnmodified != nFiles-1 || s.BytesRead != int64(len("changed content")) {
		t.Fatalf("after changing one file: %+v", s)
	}

	// ForceRead reads everything again.
	forced := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Parent: third, ForceRead: true})
	if s := forced.Summary; s.BytesRead != s.BytesProcessed || s.FilesUnmodified != 0 || s.BytesRead == 0 {
		t.Fatalf("ForceRead summary: %+v (want everything read)", s)
	}
	if repotest.Subtree(t, r, forced, src) != repotest.Subtree(t, r, third, src) {
		t.Errorf("ForceRead of an unchanged tree gave a different root tree")
	}
}

func TestMovedFilesNotReread(t *testing.T) {
	r := repotest.New(t)
	src, want := repotest.SourceTree(t)
	first := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	// Rename a subdirectory: its files have new paths, same inodes.
	if err := os.Rename(filepath.Join(src, "sub"), filepath.Join(src, "renamed")); err != nil {
		t.Fatal(err)
	}
	second := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Parent: first})
	if s := second.Summary; s.BytesRead != 0 || s.FilesUnmodified != 6 {
		t.Fatalf("after renaming a directory: %+v", s)
	}

	// Rename the backup root itself: the parent has no node at any path.
	moved := filepath.Join(filepath.Dir(src), "moved")
	if err := os.Rename(src, moved); err != nil {
		t.Fatal(err)
	}
	third := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{moved}, Parent: second})
	if s := third.Summary; s.BytesRead != 0 || s.FilesUnmodified != 6 {
		t.Fatalf("after moving the backup root: %+v", s)
	}
	// The content is really there.
	target := t.TempDir()
	repotest.Restore(t, r, third, restorer.RestoreOptions{Target: target, SubPath: moved})
	for k, v := range want {
		if strings.HasPrefix(k, "sub") {
			delete(want, k)
			want["renamed"+strings.TrimPrefix(k, "sub")] = v
		}
	}
	repotest.DiffTrees(t, want, repotest.ReadTree(t, target))
}

func TestBackupExclude(t *testing.T) {
	r := repotest.New(t)
	src, want := repotest.SourceTree(t)
	repotest.WriteFiles(t, src, map[string]string{"cache/CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n", "cache/x": "x"})
	ex, err := data.NewFilter([]string{"*.bin", "other"})
	if err != nil {
		t.Fatal(err)
	}
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Exclude: ex, ExcludeCaches: true})
	target := t.TempDir()
	repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	for k := range want {
		if strings.HasSuffix(k, ".bin") || strings.HasPrefix(k, "other") {
			delete(want, k)
		}
	}
	repotest.DiffTrees(t, want, repotest.ReadTree(t, target))
}
