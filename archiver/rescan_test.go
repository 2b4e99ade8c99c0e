package archiver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// ctimeOf returns p's ctime (false: the platform has none).
func ctimeOf(t *testing.T, p string) (time.Time, bool) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fs.SysStatOf(fi)
	return st.Ctime, ok
}

// rewrite gives p the content s and then mtime back, repeating (a coarse
// ctime clock can give the change the ctime p had) until p's ctime
// differs from before: the parent's ctime then no longer matches.
func rewrite(t *testing.T, p, s string, mtime time.Time) {
	t.Helper()
	before, hasCtime := ctimeOf(t, p)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if after, _ := ctimeOf(t, p); !hasCtime || !after.Equal(before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ctime stayed %v for two minutes of rewrites", p, before)
		}
		time.Sleep(10 * time.Millisecond) // the next clock tick; the loop, not the sleep, decides
	}
}

// A no-change re-scan keeps a file only when device, inode, size, mtime
// and ctime all match the parent's node: each way a file can change
// between backups makes it read again, and the snapshot holds the new
// content. The directory holds several hundred entries, changed ones
// among them at both ends, and an excluded last entry (a walk that
// batches entries must still submit the ones before it).
func TestRescanRereadsChangedFiles(t *testing.T) {
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	big := filepath.Join(src, "big")
	want := map[string]string{}
	for i := range 600 {
		want[fmt.Sprintf("big/f%03d", i)] = fmt.Sprintf("file %03d", i)
	}
	for _, k := range []string{"one/size", "one/mtime", "one/ctime", "one/inode", "one/same", "solo/x/ctime"} {
		want[k] = "content " + k
	}
	repotest.WriteFiles(t, src, want)
	if _, ok := ctimeOf(t, filepath.Join(src, "one/same")); !ok {
		t.Skip("no ctime on this platform: a same-size, same-mtime change is not seen (docs/PLATFORMS.md)")
	}
	if err := os.WriteFile(filepath.Join(big, "zz-excluded"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	excl, err := data.NewFilter([]string{"zz-excluded"})
	if err != nil {
		t.Fatal(err)
	}
	opts := archiver.BackupOptions{Paths: []string{src}, Exclude: excl}
	first := repotest.Backup(t, r, opts)

	old := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	set := func(k, s string, mtime time.Time) {
		rewrite(t, filepath.Join(src, k), s, mtime)
		want[k] = s
	}
	mtimeOf := func(k string) time.Time {
		fi, err := os.Lstat(filepath.Join(src, k))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	// Size differs, mtime as before.
	set("one/size", "content one/size, longer", mtimeOf("one/size"))
	// Only mtime (and ctime) differ: same content.
	set("one/mtime", want["one/mtime"], old)
	// Same size and mtime, new content: only ctime tells.
	set("one/ctime", "CONTENT one/ctime", mtimeOf("one/ctime"))
	set("solo/x/ctime", "CONTENT solo/x/ctime", mtimeOf("solo/x/ctime"))
	for _, i := range []int{0, 255, 256, 599} {
		k := fmt.Sprintf("big/f%03d", i)
		set(k, fmt.Sprintf("FILE %03d", i), mtimeOf(k))
	}
	// A new inode of the same size and mtime.
	ip := filepath.Join(src, "one/inode")
	m := mtimeOf("one/inode")
	tmp := ip + ".tmp"
	if err := os.WriteFile(tmp, []byte("CONTENT one/inode"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, m, m); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, ip); err != nil {
		t.Fatal(err)
	}
	want["one/inode"] = "CONTENT one/inode"

	opts.Parent = first
	second := repotest.Backup(t, r, opts)
	const changed = 9 // size, mtime, 2×ctime, inode, 4 in big
	total := len(want)
	if s := second.Summary; s.FilesChanged != changed || s.FilesUnmodified != int64(total-changed) || s.FilesNew != 0 {
		t.Fatalf("summary %+v: want %d changed, %d unmodified", s, changed, total-changed)
	}
	target := t.TempDir()
	repotest.Restore(t, r, second, restorer.RestoreOptions{Target: target, SubPath: src})
	for _, d := range []string{"big", "one", "solo", "solo/x"} {
		want[d] = "<dir>"
	}
	repotest.DiffTrees(t, want, repotest.ReadTree(t, target))
}

// A file whose node matches the parent's but whose content blob the
// index does not hold is read again; with every field matching and the
// blob present it is kept. Each field of the parent's node, changed
// alone, makes it read.
func TestRescanKeepsOnlyExactMatches(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	repotest.WriteFiles(t, src, map[string]string{"a": "alpha", "empty": ""})
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	tree, err := r.LoadTree(ctx, repotest.Subtree(t, r, sn, src))
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string) *data.Node {
		n := tree.Find(name)
		if n == nil {
			t.Fatalf("no node %s", name)
		}
		c := *n
		c.Content = append([]repo.ID(nil), n.Content...)
		return &c
	}
	keeps := func(name string, parent *data.Node) bool {
		ok, err := archiver.KeepsForTest(ctx, r, filepath.Join(src, name), parent)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	muts := map[string]func(n *data.Node){
		"none":         func(*data.Node) {},
		"inode":        func(n *data.Node) { n.Inode++ },
		"device":       func(n *data.Node) { n.Device++ },
		"size":         func(n *data.Node) { n.Size++ },
		"mtime":        func(n *data.Node) { n.ModTime = n.ModTime.Add(time.Nanosecond) },
		"ctime":        func(n *data.Node) { n.ChangeTime = n.ChangeTime.Add(time.Nanosecond) },
		"type":         func(n *data.Node) { n.Type = data.NodeSymlink },
		"missing blob": func(n *data.Node) { n.Content[0][0] ^= 0xff },
		"no content":   func(n *data.Node) { n.Content = nil },
	}
	for name, mut := range muts {
		a := node("a")
		mut(a)
		if got, want := keeps("a", a), name == "none"; got != want {
			t.Errorf("parent node with %s changed: kept %v, want %v", name, got, want)
		}
	}
	// The empty file has no content and is kept; given content, it is not.
	e := node("empty")
	if !keeps("empty", e) {
		t.Errorf("unchanged empty file not kept")
	}
	e.Content = node("a").Content
	if keeps("empty", e) {
		t.Errorf("empty file kept with a parent node that has content")
	}
}
