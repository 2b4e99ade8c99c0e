package archiver_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// The walk ahead lists what the backup's walk will visit and nothing else:
// not excluded paths, not a cache directory with ExcludeCaches (unless it
// is the target itself, which the walk backs up), never through a symlink (to a directory outside the
// source, or one swapped in for a directory).
func TestPrewalkListsWhatTheWalkVisits(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{"src/a/b", "src/skip/deep", "src/cache/sub", "src/c", "outside/deep"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "cache", "CACHEDIR.TAG"), []byte("Signature: 8a477f597d28d172789f06886806bc55\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	ex, err := data.NewFilter([]string{"skip"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "skip", "excluded"), []byte("xxxx"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := &repo.Progress{}
	got := archiver.PrewalkForTest(context.Background(), archiver.BackupOptions{Exclude: ex, ExcludeCaches: true, Progress: prog}, []string{src})
	// The totals count the regular files the backup will visit.
	if f, b, ok := prog.TotalFiles.Load(), prog.TotalBytes.Load(), prog.TotalKnown.Load(); f != 1 || b != 1 || !ok {
		t.Errorf("totals %d files, %d bytes, known %v; want 1, 1, true", f, b, ok)
	}
	want := []string{src, filepath.Join(src, "a"), filepath.Join(src, "a", "b"), filepath.Join(src, "c")}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %q\nwant %q", got, want)
	}
	// Without the exclusions the cache's and the excluded tree's
	// directories are listed too; still nothing through the symlink.
	got = archiver.PrewalkForTest(context.Background(), archiver.BackupOptions{}, []string{src, filepath.Join(src, "link"), filepath.Join(src, "a", "f")})
	want = append(want, filepath.Join(src, "cache"), filepath.Join(src, "cache", "sub"), filepath.Join(src, "skip"), filepath.Join(src, "skip", "deep"))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %q\nwant %q", got, want)
	}
	// A target that is a cache directory is backed up, so walked.
	got = archiver.PrewalkForTest(context.Background(), archiver.BackupOptions{ExcludeCaches: true}, []string{filepath.Join(src, "cache")})
	if want := []string{filepath.Join(src, "cache"), filepath.Join(src, "cache", "sub")}; !slices.Equal(got, want) {
		t.Fatalf("listed %q\nwant %q", got, want)
	}
	// A done context: nothing is listed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := archiver.PrewalkForTest(ctx, archiver.BackupOptions{}, []string{src}); len(got) != 0 {
		t.Fatalf("listed %q after cancellation", got)
	}
}

func TestPrewalkTargetPaths(t *testing.T) {
	got := archiver.TargetPathsForTest(
		[]string{"/a", "/a", "/a-x", "/a/b", "/ab", "/db.sql", "/z"},
		[]archiver.Stream{{Path: "/db.sql"}})
	if want := []string{"/a", "/a-x", "/ab", "/z"}; !slices.Equal(got, want) {
		t.Fatalf("targets %q, want %q", got, want)
	}
	if got := archiver.TargetPathsForTest([]string{"/", "/home"}, nil); !slices.Equal(got, []string{"/"}) {
		t.Fatalf("targets %q, want [/]", got)
	}
}

// Cancelled part-way (the backup's walk returned), the walk ahead stops
// listing and returns.
func TestPrewalkStopsWhenCancelled(t *testing.T) {
	src := t.TempDir()
	for i := range 300 {
		if err := os.MkdirAll(filepath.Join(src, strconv.Itoa(i%10), strconv.Itoa(i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	prog := &repo.Progress{}
	got := archiver.PrewalkWithHookForTest(ctx, archiver.BackupOptions{Progress: prog}, []string{src}, func(string) {
		n++ // called under the test hook's lock
		if n == 3 {
			cancel()
		}
	})
	// Up to one directory per walker may be listed after the
	// cancellation, against 311 in the tree.
	if len(got) > 3+8 {
		t.Fatalf("listed %d directories after a cancellation at the 3rd", len(got))
	}
	if prog.TotalKnown.Load() {
		t.Error("totals known after a walk cut short")
	}
}

// The progress totals count the regular files read from disk and their
// bytes, whether the walk ahead counted them or the backup's walk ended
// first and the totals come from what it did: symlinks, devices and
// streams are not counted (Progress.Files counts them all).
func TestBackupTotalsCountRegularFiles(t *testing.T) {
	src := t.TempDir()
	for i, size := range []int{0, 10, 3000} {
		if err := os.WriteFile(filepath.Join(src, "f"+strconv.Itoa(i)), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"l1", "l2"} {
		if err := os.Symlink("f1", filepath.Join(src, l)); err != nil {
			t.Fatal(err)
		}
	}
	r := repotest.New(t)
	for _, skip := range []bool{false, true} {
		if skip {
			archiver.SkipPrewalkForTest(t)
		}
		prog := &repo.Progress{}
		repotest.Backup(t, r, archiver.BackupOptions{
			Paths:    []string{src},
			Streams:  []archiver.Stream{{Path: "/db.sql", Reader: strings.NewReader(strings.Repeat("x", 5000))}},
			Progress: prog,
			Host:     "h",
		})
		if f, b, ok := prog.TotalFiles.Load(), prog.TotalBytes.Load(), prog.TotalKnown.Load(); f != 3 || b != 3010 || !ok {
			t.Errorf("walk ahead skipped %v: totals %d files, %d bytes, known %v; want 3, 3010, true (Files %d)", skip, f, b, ok, prog.Files.Load())
		}
	}
}
