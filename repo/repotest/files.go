package repotest

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/restorer"
)

// Helpers for tests that back up and restore real files: build a tree of
// files, read one back, compare two, and run a backup or restore that fails
// the test on any error.

// WriteFiles creates files (and their directories) below dir; a value
// starting with "->" makes a symlink.
func WriteFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ReadTree returns every entry below dir: files map to their content,
// directories to "<dir>", symlinks to "->target".
func ReadTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "->" + target
		case d.IsDir():
			out[rel] = "<dir>"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// DiffTrees reports differences between two readTree results.
func DiffTrees(t *testing.T, want, got map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !wok:
			t.Errorf("unexpected entry %s", k)
		case !gok:
			t.Errorf("missing entry %s", k)
		case w != g:
			t.Errorf("%s: content differs (%d bytes, want %d)", k, len(g), len(w))
		}
	}
}

// Backup runs a backup and fails the test on error or a partial snapshot.
func Backup(t *testing.T, r *repo.Repository, opts archiver.BackupOptions) *repo.Snapshot {
	t.Helper()
	var warns []string
	if opts.Warn == nil {
		opts.Warn = func(p string, err error) { warns = append(warns, p+": "+err.Error()) }
	}
	sn, err := archiver.Backup(context.Background(), r, opts)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if sn.Partial || len(warns) > 0 {
		t.Fatalf("Backup partial=%v, warnings %v", sn.Partial, warns)
	}
	return sn
}

// Restore runs a restore and fails the test on error.
func Restore(t *testing.T, r *repo.Repository, sn *repo.Snapshot, opts restorer.RestoreOptions) *restorer.RestoreResult {
	t.Helper()
	res, err := restorer.Restore(context.Background(), r, sn, opts)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return res
}

// Subtree returns the tree ID of directory p in snapshot sn.
func Subtree(t *testing.T, r *repo.Repository, sn *repo.Snapshot, p string) repo.ID {
	t.Helper()
	n, err := r.FindNode(context.Background(), sn, p)
	if err != nil || n == nil || n.Subtree == nil {
		t.Fatalf("no directory %s in snapshot %s (err %v)", p, sn.ID().Short(), err)
	}
	return *n.Subtree
}

// RandBytes returns n deterministic pseudo-random (incompressible) bytes.
func RandBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// SourceTree is a small tree with nested directories, an empty file, a
// symlink and two files with the same content. It is kept small so tests
// stay fast: data chunks are at least 512 KiB, so every file is one blob.
func SourceTree(t *testing.T) (string, map[string]string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	files := map[string]string{
		"a.txt":            "alpha\n",
		"empty":            "",
		"sub/b.txt":        strings.Repeat("bravo ", 1000),
		"sub/deep/c.bin":   string(RandBytes(7, 300<<10)),
		"sub/deep/dup.bin": string(RandBytes(7, 300<<10)), // same content as c.bin
		"link":             "->sub/b.txt",
		"other/d.txt":      "delta",
	}
	WriteFiles(t, src, files)
	want := ReadTree(t, src)
	return src, want
}
