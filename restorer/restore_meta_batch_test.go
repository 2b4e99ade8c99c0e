//go:build unix

package restorer_test

import (
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// Modes, owners and times of files and directories come out as in the
// source when the restore is cut into many batches (two files each), so
// that the metadata of the directories the walk has left is set between
// batches: read-only and set-group-ID directories, files whose mode the
// umask would clip, a hard link into a directory finished long before
// the link is made. (Files created with their final mode, directories
// created with it, and set by name; see fs.AssumeFresh.)
func TestRestoreMetadataAcrossBatches(t *testing.T) {
	defer restorer.SetBatchFiles(2)()
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	files := map[string]os.FileMode{
		"d1/f644": 0o644, "d1/f600": 0o600, "d1/f666": 0o666, "d1/f444": 0o444, "d1/f755": 0o755,
		"d2ro/a": 0o644, "d2ro/b": 0o640,
		"d3/s/deep": 0o600, "d3/s/deeper/x": 0o644,
		"d4sgid/y": 0o644,
		"d5/h1":    0o644,
		"z/last":   0o644,
	}
	for name, mode := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(src, "d6"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "d5/h1"), filepath.Join(src, "d6/h2")); err != nil {
		t.Fatal(err)
	}
	dirModes := map[string]os.FileMode{"d1": 0o755, "d2ro": 0o555, "d3": 0o700, "d3/s": 0o750, "d3/s/deeper": 0o711,
		"d4sgid": 0o755 | os.ModeSetgid, "d5": 0o775, "d6": 0o755, "z": 0o700}
	var dirs []string
	for d := range dirModes {
		dirs = append(dirs, d)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // deepest first
	for i, d := range dirs {
		p := filepath.Join(src, d)
		if err := os.Chmod(p, dirModes[d]); err != nil {
			t.Fatal(err)
		}
		when := time.Date(2020, 1, 2, 3, 4, i, 5000*(i+1), time.UTC)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// Owners other than the restoring user's (root can set them):
		// created with their final mode, then chowned.
		for _, name := range []string{"d1/f644", "d1/f600", "d3/s", "d3/s/deep"} {
			if err := os.Lchown(filepath.Join(src, name), 1234, 5678); err != nil {
				t.Fatal(err)
			}
		}
	}
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	target := filepath.Join(t.TempDir(), "target")
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	if res.Errors != 0 || len(res.Damaged) != 0 || res.Links != 1 {
		t.Fatalf("restore result %+v", res)
	}
	n := 0
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		n++
		got, err := os.Lstat(filepath.Join(target, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if got.Mode() != fi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, got.Mode(), fi.Mode())
		}
		if !got.ModTime().Equal(fi.ModTime()) {
			t.Errorf("%s: mtime %v, want %v", rel, got.ModTime(), fi.ModTime())
		}
		gs, ws := got.Sys().(*syscall.Stat_t), fi.Sys().(*syscall.Stat_t)
		if gs != nil && ws != nil && (gs.Uid != ws.Uid || gs.Gid != ws.Gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, gs.Uid, gs.Gid, ws.Uid, ws.Gid)
		}
		return nil
	})
	if err != nil || n < 20 {
		t.Fatalf("walk: %v (%d entries)", err, n)
	}
	h1, _ := os.Stat(filepath.Join(target, "d5/h1"))
	h2, _ := os.Stat(filepath.Join(target, "d6/h2"))
	if h1 == nil || h2 == nil || !os.SameFile(h1, h2) {
		t.Errorf("d5/h1 and d6/h2 are not one file")
	}
}
