package archiver_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/data"
)

// The walk ahead lists what the backup's walk will visit and nothing else:
// not excluded paths, not a cache directory's subdirectories with
// ExcludeCaches, never through a symlink (to a directory outside the
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
	got := archiver.PrewalkForTest(context.Background(), archiver.BackupOptions{Exclude: ex, ExcludeCaches: true}, []string{src})
	want := []string{src, filepath.Join(src, "a"), filepath.Join(src, "a", "b"), filepath.Join(src, "c"), filepath.Join(src, "cache")}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %q\nwant %q", got, want)
	}
	// Without the exclusions the cache's and the excluded tree's
	// directories are listed too; still nothing through the symlink.
	got = archiver.PrewalkForTest(context.Background(), archiver.BackupOptions{}, []string{src, filepath.Join(src, "link"), filepath.Join(src, "a", "f")})
	want = append(want, filepath.Join(src, "cache", "sub"), filepath.Join(src, "skip"), filepath.Join(src, "skip", "deep"))
	slices.Sort(want)
	if !slices.Equal(got, want) {
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
		[]string{"/a", "/a/b", "/ab", "/db.sql", "/z"},
		[]archiver.Stream{{Path: "/db.sql"}})
	if want := []string{"/a", "/ab", "/z"}; !slices.Equal(got, want) {
		t.Fatalf("targets %q, want %q", got, want)
	}
	if got := archiver.TargetPathsForTest([]string{"/", "/home"}, nil); !slices.Equal(got, []string{"/"}) {
		t.Fatalf("targets %q, want [/]", got)
	}
}
