package restorer_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

func TestRestoreTargetNotEmpty(t *testing.T) {
	r := repotest.New(t)
	src, _ := repotest.SourceTree(t)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	target := t.TempDir()
	repotest.WriteFiles(t, target, map[string]string{"x": "y"})
	if _, err := restorer.Restore(context.Background(), r, sn, restorer.RestoreOptions{Target: target}); !errors.Is(err, repo.ErrTargetNotEmpty) {
		t.Fatalf("got %v, want ErrTargetNotEmpty", err)
	}
}

func TestRestoreSubPathAndFilters(t *testing.T) {
	r := repotest.New(t)
	src, want := repotest.SourceTree(t)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	t.Run("directory", func(t *testing.T) {
		target := t.TempDir()
		repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src + "/sub"})
		sub := map[string]string{}
		for k, v := range want {
			if rest, ok := strings.CutPrefix(k, "sub/"); ok {
				sub[rest] = v
			}
		}
		repotest.DiffTrees(t, sub, repotest.ReadTree(t, target))
	})
	t.Run("file", func(t *testing.T) {
		target := t.TempDir()
		repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src + "/sub/b.txt"})
		repotest.DiffTrees(t, map[string]string{"b.txt": want["sub/b.txt"]}, repotest.ReadTree(t, target))
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := restorer.Restore(context.Background(), r, sn, restorer.RestoreOptions{Target: t.TempDir(), SubPath: src + "/nope"}); err == nil {
			t.Fatal("restore of a missing sub path succeeded")
		}
	})
	t.Run("include", func(t *testing.T) {
		target := t.TempDir()
		inc, _ := data.NewFilter([]string{"*.txt"})
		ex, _ := data.NewFilter([]string{"d.txt"})
		repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src, Include: inc, Exclude: ex})
		got := repotest.ReadTree(t, target)
		var files []string
		for k, v := range got {
			if v != "<dir>" {
				files = append(files, k)
			}
		}
		slices.Sort(files)
		if !slices.Equal(files, []string{"a.txt", "sub/b.txt"}) {
			t.Fatalf("restored files %v, want [a.txt sub/b.txt]", files)
		}
	})
}

func TestRestoreOverwrite(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src, want := repotest.SourceTree(t)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	const nFiles = 6 // regular files

	// prepare restores the snapshot and then damages two files: one with
	// the same size (only hashing finds it), one with a different size.
	prepare := func(t *testing.T) string {
		target := t.TempDir()
		repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
		repotest.WriteFiles(t, target, map[string]string{
			"a.txt":       "ALPHA\n",
			"other/d.txt": "a different length",
		})
		return target
	}
	damaged := map[string]string{"a.txt": "ALPHA\n", "other/d.txt": "a different length"}

	t.Run("unset", func(t *testing.T) {
		target := prepare(t)
		if _, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: src}); !errors.Is(err, repo.ErrTargetNotEmpty) {
			t.Fatalf("got %v, want ErrTargetNotEmpty", err)
		}
	})
	t.Run("never", func(t *testing.T) {
		target := prepare(t)
		res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src, Overwrite: restorer.OverwriteNever})
		w := map[string]string{}
		for k, v := range want {
			w[k] = v
		}
		for k, v := range damaged {
			w[k] = v
		}
		repotest.DiffTrees(t, w, repotest.ReadTree(t, target))
		if res.Files != 0 || res.Skipped < nFiles {
			t.Errorf("never: %+v, want no file written, all skipped", res)
		}
	})
	t.Run("if-changed", func(t *testing.T) {
		target := prepare(t)
		res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src, Overwrite: restorer.OverwriteIfChanged})
		repotest.DiffTrees(t, want, repotest.ReadTree(t, target))
		// Written: the two damaged files and the symlink (never compared,
		// always recreated); skipped: the other regular files.
		if res.Files != 3 || res.Skipped != nFiles-2 {
			t.Errorf("if-changed: %d entries written, %d skipped; want 3 and %d", res.Files, res.Skipped, nFiles-2)
		}
	})
	t.Run("always", func(t *testing.T) {
		target := prepare(t)
		res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src, Overwrite: restorer.OverwriteAlways})
		repotest.DiffTrees(t, want, repotest.ReadTree(t, target))
		if res.Skipped != 0 || res.Files < nFiles {
			t.Errorf("always: %+v, want every file rewritten", res)
		}
	})
}

func TestParseOverwrite(t *testing.T) {
	for in, want := range map[string]restorer.Overwrite{"": restorer.OverwriteUnset, "never": restorer.OverwriteNever, "if-changed": restorer.OverwriteIfChanged, "always": restorer.OverwriteAlways} {
		if got, err := restorer.ParseOverwrite(in); err != nil || got != want {
			t.Errorf("ParseOverwrite(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := restorer.ParseOverwrite("sometimes"); err == nil {
		t.Error("ParseOverwrite accepted an unknown policy")
	}
}

func TestCheckAndDamagedRestore(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.NewLocal(t)
	src := filepath.Join(t.TempDir(), "src")
	files := map[string]string{
		"good1.bin": string(repotest.RandBytes(11, 40<<10)),
		"bad.bin":   string(repotest.RandBytes(12, 40<<10)),
		"good2.bin": string(repotest.RandBytes(13, 40<<10)),
	}
	repotest.WriteFiles(t, src, files)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	for _, readData := range []bool{false, true} {
		res, err := r.Check(ctx, repo.CheckOptions{ReadData: readData})
		if err != nil || !res.OK() {
			t.Fatalf("Check(ReadData=%v) on a healthy repository: %+v, %v", readData, res, err)
		}
		if res.Snapshots != 1 || res.Packs != 2 || res.Blobs < 3 {
			t.Fatalf("Check counts: %+v", res)
		}
	}

	// Find bad.bin's blob and flip one byte of it inside its pack.
	var blob repo.ID
	err := r.Walk(ctx, sn.Tree, "/", func(p string, n *data.Node) error {
		if n.Name == "bad.bin" {
			blob = n.Content[0]
		}
		return nil
	})
	if err != nil || blob.IsNull() {
		t.Fatalf("find blob: %v", err)
	}
	loc := damageBlob(t, r, dir, pack.BlobHandle{ID: blob, Type: pack.DataBlob})

	res, err := r.Check(ctx, repo.CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || len(res.Damaged) != 1 || res.Damaged[0].ID != blob.String() || res.Damaged[0].Pack != loc.Pack.String() {
		t.Fatalf("Check after damage: damaged %+v problems %v", res.Damaged, res.Problems)
	}
	wantPath := filepath.ToSlash(filepath.Join(src, "bad.bin"))
	if len(res.Affected) != 1 || res.Affected[0].Path != wantPath || res.Affected[0].Snapshot != sn.ID().String() {
		t.Fatalf("affected files %+v, want %s", res.Affected, wantPath)
	}

	target := t.TempDir()
	var warned []string
	rres, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: src,
		Warn: func(p string, err error) { warned = append(warned, p) }})
	if err != nil {
		t.Fatalf("Restore with a damaged blob: %v", err)
	}
	if !slices.Equal(rres.Damaged, []string{wantPath}) || len(warned) == 0 {
		t.Fatalf("RestoreResult.Damaged = %v (warnings %v), want [%s]", rres.Damaged, warned, wantPath)
	}
	got := repotest.ReadTree(t, target)
	for _, name := range []string{"good1.bin", "good2.bin"} {
		if got[name] != files[name] {
			t.Errorf("%s not restored intact", name)
		}
	}
	if got["bad.bin"] == files["bad.bin"] {
		t.Errorf("damaged file restored with correct content?")
	}
}
