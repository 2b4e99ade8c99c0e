package repo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// bigDir writes n small files (and two subdirectories) into dir/big.
func bigDir(t *testing.T, dir string, n int) string {
	t.Helper()
	big := filepath.Join(dir, "big")
	if err := os.MkdirAll(filepath.Join(big, "sub-a", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "sub-a", "inner", "x"), []byte("inner"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(big, "sub-z"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("IMG_%06d.jpg", i)
		if err := os.WriteFile(filepath.Join(big, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return big
}

// splitOf returns the stored tree of the directory at p in sn.
func splitOf(t *testing.T, r *repo.Repository, sn *repo.Snapshot, p string) (*data.Node, *data.Tree) {
	t.Helper()
	ctx := context.Background()
	n, err := r.FindNode(ctx, sn, p)
	if err != nil {
		t.Fatalf("FindNode %s: %v", p, err)
	}
	raw, err := r.LoadTreeBlobForTest(ctx, *n.Subtree)
	if err != nil {
		t.Fatal(err)
	}
	return n, raw
}

// TestSplitDirectory backs up a directory of 3,000 entries with a split
// threshold of 16 KiB (a format 2 repository stores it as an index and
// parts), and reads it back through every reader: restore, Walk, FindNode,
// LoadTree, Diff, Stats, check, prune, copy; a changed file changes few
// parts, an unchanged directory keeps its ID.
func TestSplitDirectory(t *testing.T) {
	repo.SetTreeSplitForTest(t, 16<<10)
	ctx := context.Background()
	r := repotest.New(t)
	src := t.TempDir()
	big := bigDir(t, src, 3000)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	dirNode, idx := splitOf(t, r, sn, big)
	if len(idx.Parts) < 4 || len(idx.Nodes) != 0 {
		t.Fatalf("directory of 3002 entries over a 16 KiB threshold: %d parts, %d nodes; want an index of several parts", len(idx.Parts), len(idx.Nodes))
	}
	var total uint64
	for _, p := range idx.Parts {
		total += p.Count
	}
	if total != 3002 {
		t.Fatalf("parts hold %d entries, want 3002", total)
	}

	// LoadTree assembles; FindNode and Walk see every entry in order.
	full, err := r.LoadTree(ctx, *dirNode.Subtree)
	if err != nil || len(full.Nodes) != 3002 {
		t.Fatalf("LoadTree: %v, %d nodes", err, len(full.Nodes))
	}
	if data.TreeLen(idx) != 3002 {
		t.Errorf("TreeLen %d", data.TreeLen(idx))
	}
	for _, r2 := range [][2]int{{0, 1}, {990, 1105}, {2990, 3100}, {3002, 3010}} {
		got, err := data.TreeSlice(ctx, r.LoadTreeBlob, idx, r2[0], r2[1])
		want := full.Nodes[min(r2[0], 3002):min(r2[1], 3002)]
		if err != nil || len(got) != len(want) {
			t.Fatalf("TreeSlice %v: %v, %d nodes, want %d", r2, err, len(got), len(want))
		}
		for i := range got {
			if got[i].FileName() != want[i].FileName() {
				t.Fatalf("TreeSlice %v: node %d is %q, want %q", r2, i, got[i].FileName(), want[i].FileName())
			}
		}
	}
	for _, name := range []string{"IMG_000000.jpg", "IMG_001500.jpg", "IMG_002999.jpg", "sub-z", "sub-a/inner/x"} {
		if _, err := r.FindNode(ctx, sn, big+"/"+name); err != nil {
			t.Errorf("FindNode %s: %v", name, err)
		}
	}
	if _, err := r.FindNode(ctx, sn, big+"/IMG_003000.jpg"); !errors.Is(err, data.ErrPathNotFound) {
		t.Errorf("FindNode of a missing name: %v", err)
	}
	var walked []string
	if err := r.Walk(ctx, sn.Tree, "/", func(p string, n *data.Node) error {
		if strings.HasPrefix(p, big+"/") {
			walked = append(walked, strings.TrimPrefix(p, big+"/"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(walked) != 3004 || walked[0] != "IMG_000000.jpg" || walked[3000] != "sub-a" || walked[3001] != "sub-a/inner" {
		t.Fatalf("Walk: %d entries, %q ... ", len(walked), walked[:min(3, len(walked))])
	}

	// Restore, check, stats.
	want := repotest.ReadTree(t, big)
	target := filepath.Join(t.TempDir(), "out")
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: big})
	if res.Errors != 0 || len(res.Damaged) != 0 {
		t.Fatalf("restore: %+v", res)
	}
	repotest.DiffTrees(t, want, repotest.ReadTree(t, target))
	checkSplitOK(t, r)
	st, err := r.Stats(ctx, []*repo.Snapshot{sn})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 3001 {
		t.Errorf("stats: %d files, want 3001", st.Files)
	}

	// One file changed, one added: few parts change; Diff reports both.
	time.Sleep(10 * time.Millisecond) // a different mtime on coarse clocks
	if err := os.WriteFile(filepath.Join(big, "IMG_001234.jpg"), []byte("changed content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "IMG_002000a.jpg"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	sn2 := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Parent: sn})
	_, idx2 := splitOf(t, r, sn2, big)
	old := map[repo.ID]bool{}
	for _, p := range idx.Parts {
		old[p.Subtree] = true
	}
	changed := 0
	for _, p := range idx2.Parts {
		if !old[p.Subtree] {
			changed++
		}
	}
	t.Logf("%d parts, %d changed after one file changed and one was added", len(idx2.Parts), changed)
	if changed == 0 || changed > 3 {
		t.Errorf("after changing one file and adding one, %d of %d parts are new (want 1 to 3: content-defined parts)", changed, len(idx2.Parts))
	}
	var diffs []string
	if err := r.Diff(ctx, sn.Tree, sn2.Tree, "/", func(kind rune, p string, n *data.Node) error {
		if n.Type != data.NodeDir {
			diffs = append(diffs, string(kind)+" "+strings.TrimPrefix(p, big+"/"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(diffs, ",") != "M IMG_001234.jpg,+ IMG_002000a.jpg" {
		t.Errorf("Diff: %q", diffs)
	}

	// Unchanged: the directory keeps its tree ID.
	sn3 := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Parent: sn2})
	n2, _ := splitOf(t, r, sn2, big)
	n3, _ := splitOf(t, r, sn3, big)
	if *n2.Subtree != *n3.Subtree {
		t.Errorf("unchanged split directory got a new tree ID")
	}
	// The same directory backed up without a parent: the same ID (the
	// split depends on the entries only).
	sn4 := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	if n4, _ := splitOf(t, r, sn4, big); *n4.Subtree != *n3.Subtree {
		t.Errorf("the same directory without a parent snapshot got another tree ID")
	}

	// Forget the first snapshots and prune: the parts still in use stay.
	if err := r.RemoveSnapshots(ctx, []*repo.Snapshot{sn, sn2}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx, repo.PruneOptions{MaxUnusedPercent: -1}); err != nil {
		t.Fatal(err)
	}
	checkSplitOK(t, r)
	target = filepath.Join(t.TempDir(), "out2")
	repotest.Restore(t, r, sn3, restorer.RestoreOptions{Target: target, SubPath: big})
	repotest.DiffTrees(t, repotest.ReadTree(t, big), repotest.ReadTree(t, target))

	// Copy into another format 2 repository: restores the same.
	dst := repotest.New(t)
	if _, err := maintenance.Copy(ctx, dst, r, []*repo.Snapshot{sn3}, maintenance.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSplitOK(t, dst)
	snaps, err := dst.Snapshots(ctx, nil)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("copied snapshots: %v %d", err, len(snaps))
	}
	if _, idxc := splitOf(t, dst, snaps[0], big); len(idxc.Parts) != len(n3Parts(t, r, sn3, big)) {
		t.Errorf("copy changed the split: %d parts", len(idxc.Parts))
	}
	target = filepath.Join(t.TempDir(), "out3")
	repotest.Restore(t, dst, snaps[0], restorer.RestoreOptions{Target: target, SubPath: big})
	repotest.DiffTrees(t, repotest.ReadTree(t, big), repotest.ReadTree(t, target))

	// A format 1 repository cannot take it.
	v1 := repotest.NewWithOptions(t, repo.Options{Version: repo.FormatV1})
	if _, err := maintenance.Copy(ctx, v1, r, []*repo.Snapshot{sn3}, maintenance.CopyOptions{}); !errors.Is(err, maintenance.ErrSplitToV1) {
		t.Errorf("copy of a split directory into a version 1 repository: %v, want ErrSplitToV1", err)
	}
}

func n3Parts(t *testing.T, r *repo.Repository, sn *repo.Snapshot, p string) []data.TreePart {
	_, idx := splitOf(t, r, sn, p)
	return idx.Parts
}

// TestSplitDirectoryV1 backs up the same directory into a format 1
// repository: it is stored as one tree, exactly as before version 2.
func TestSplitDirectoryV1(t *testing.T) {
	repo.SetTreeSplitForTest(t, 16<<10)
	ctx := context.Background()
	be := mem.New()
	r := repotest.InitIn(t, be, repo.Options{CacheDir: t.TempDir(), KDF: repotest.KDF, Version: repo.FormatV1})
	m, err := repo.CheckMarker(ctx, be)
	if err != nil || m.Version != repo.FormatV1 || r.Config().Version != repo.FormatV1 {
		t.Fatalf("marker %+v (%v), config version %d: want 1", m, err, r.Config().Version)
	}
	src := t.TempDir()
	big := bigDir(t, src, 1000)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	_, tr := splitOf(t, r, sn, big)
	if len(tr.Parts) != 0 || len(tr.Nodes) != 1002 {
		t.Fatalf("format 1: %d parts, %d nodes; want one tree of 1002 nodes", len(tr.Parts), len(tr.Nodes))
	}
}

// TestSplitTreeRejects: indexes and parts that break §9.3's rules are
// corrupt.
func TestSplitTreeRejects(t *testing.T) {
	id := `"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"`
	for name, b := range map[string]string{
		"nodes and parts": `{"nodes":[{"name":"a","type":"file","mode":0,"uid":0,"gid":0,"mtime":"2020-01-01T00:00:00Z","ctime":"2020-01-01T00:00:00Z"}],"parts":[{"first":"a","count":1,"subtree":` + id + `}]}`,
		"empty parts":     `{"nodes":[],"parts":[]}`,
		"unsorted":        `{"nodes":[],"parts":[{"first":"b","count":1,"subtree":` + id + `},{"first":"a","count":1,"subtree":` + id + `}]}`,
		"duplicate":       `{"nodes":[],"parts":[{"first":"a","count":1,"subtree":` + id + `},{"first":"a","count":1,"subtree":` + id + `}]}`,
		"zero count":      `{"nodes":[],"parts":[{"first":"a","count":0,"subtree":` + id + `}]}`,
		"bad name":        `{"nodes":[],"parts":[{"first":"a/b","count":1,"subtree":` + id + `}]}`,
		"empty raw":       `{"nodes":[],"parts":[{"first":"a","first_raw":"","count":1,"subtree":` + id + `}]}`,
		"unknown field":   `{"nodes":[],"parts":[{"first":"a","count":1,"subtree":` + id + `,"x":1}]}`,
	} {
		if _, err := data.DecodeTree([]byte(b)); !errors.Is(err, repo.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	idx, err := data.DecodeTree([]byte(`{"nodes":[],"parts":[{"first":"b","count":2,"subtree":` + id + `},{"first":"d","count":1,"subtree":` + id + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string) *data.Node { return &data.Node{Name: name, Type: data.NodeFile} }
	for name, part := range map[string]*data.Tree{
		"count":  {Nodes: []*data.Node{node("b")}},
		"first":  {Nodes: []*data.Node{node("c"), node("ca")}},
		"beyond": {Nodes: []*data.Node{node("b"), node("d")}},
		"nested": {Nodes: []*data.Node{}, Parts: idx.Parts},
	} {
		if err := repo.CheckPartForTest(idx, 0, part); !errors.Is(err, repo.ErrCorrupt) {
			t.Errorf("part %s: %v, want ErrCorrupt", name, err)
		}
	}
	if err := repo.CheckPartForTest(idx, 0, &data.Tree{Nodes: []*data.Node{node("b"), node("c")}}); err != nil {
		t.Errorf("a good part: %v", err)
	}
}

// TestSplitDirectoryDamage: a split directory one of whose parts is lost
// loses that part's entries only: check reports it, restore restores the
// other parts and names the directory damaged, repair snapshots rewrites
// the directory without the lost entries.
func TestSplitDirectoryDamage(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	file := func(name string) *data.Node {
		return &data.Node{Name: name, Type: data.NodeFile, Mode: 0o644, ModTime: mtime, ChangeTime: mtime}
	}
	lost := repo.ID{1, 2, 3} // no such blob
	var root repo.ID
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		p1, err := up.SaveTree(ctx, &data.Tree{Nodes: []*data.Node{file("a"), file("b")}})
		if err != nil {
			return err
		}
		p3, err := up.SaveTree(ctx, &data.Tree{Nodes: []*data.Node{file("e")}})
		if err != nil {
			return err
		}
		idx, err := up.SaveTree(ctx, &data.Tree{Nodes: []*data.Node{}, Parts: []data.TreePart{
			{First: "a", Count: 2, Subtree: p1}, {First: "c", Count: 1, Subtree: lost}, {First: "e", Count: 1, Subtree: p3}}})
		if err != nil {
			return err
		}
		dir := &data.Node{Name: "d", Type: data.NodeDir, Mode: 0o755, ModTime: mtime, ChangeTime: mtime, Subtree: &idx}
		root, err = up.SaveTree(ctx, &data.Tree{Nodes: []*data.Node{dir}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sn := &repo.Snapshot{Time: mtime, Host: "h", Paths: []string{"/d"}, Tree: root}
	if _, err := r.SaveSnapshot(ctx, sn); err != nil {
		t.Fatal(err)
	}
	res, err := r.Check(ctx, repo.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() {
		t.Fatalf("check of a split directory with a lost part: OK")
	}
	target := filepath.Join(t.TempDir(), "out")
	rres, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	got := repotest.ReadTree(t, target)
	if len(rres.Damaged) != 1 || rres.Damaged[0] != "/d" || got["d/a"] != "" || got["d/e"] != "" || len(got) != 4 {
		t.Fatalf("restore: damaged %q, restored %v; want a, b and e below d, d damaged", rres.Damaged, got)
	}
	rep, err := r.RepairSnapshots(ctx, repo.RepairSnapshotsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 1 || rep[0].New == "" || len(rep[0].DamagedFiles) != 1 || !strings.Contains(rep[0].DamagedFiles[0], `"c"`) {
		t.Fatalf("repair snapshots: %+v", rep)
	}
	checkSplitOK(t, r)
	snaps, err := r.Snapshots(ctx, nil)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots after repair: %v, %d", err, len(snaps))
	}
	target = filepath.Join(t.TempDir(), "out2")
	repotest.Restore(t, r, snaps[0], restorer.RestoreOptions{Target: target})
	if got := repotest.ReadTree(t, target); len(got) != 4 || got["d/b"] != "" {
		t.Fatalf("restore after repair: %v", got)
	}
}

// TestSplitTreeRawNames: SaveTree splits a large node list whose names
// are not all UTF-8; the index names parts by exact name (first_raw), the
// assembled directory is the list given, and saving it again gives the
// same ID.
func TestSplitTreeRawNames(t *testing.T) {
	repo.SetTreeSplitForTest(t, 8<<10)
	ctx := context.Background()
	r := repotest.New(t)
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	var nodes []*data.Node
	for i := range 2000 {
		n := &data.Node{Type: data.NodeFile, Mode: 0o644, ModTime: mtime, ChangeTime: mtime, Size: uint64(i)}
		if i%3 == 0 {
			n.SetName(fmt.Sprintf("f%05d\xff\xfe", i)) // not UTF-8
		} else {
			n.SetName(fmt.Sprintf("f%05d<&>", i))
		}
		nodes = append(nodes, n)
	}
	var id1, id2 repo.ID
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		var err error
		if id1, err = up.SaveTree(ctx, &data.Tree{Nodes: nodes}); err != nil {
			return err
		}
		id2, err = up.SaveTree(ctx, &data.Tree{Nodes: append([]*data.Node(nil), nodes...)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 {
		t.Errorf("the same directory saved twice: two IDs")
	}
	idx, err := r.LoadTreeBlobForTest(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	raw := 0
	for _, p := range idx.Parts {
		if p.FirstRaw != nil {
			raw++
		}
	}
	if len(idx.Parts) < 5 || raw == 0 {
		t.Fatalf("%d parts, %d named by a raw first name", len(idx.Parts), raw)
	}
	full, err := r.LoadTree(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Nodes) != len(nodes) {
		t.Fatalf("assembled %d nodes, saved %d", len(full.Nodes), len(nodes))
	}
	for i, n := range full.Nodes {
		if n.FileName() != nodes[i].FileName() || n.Size != nodes[i].Size {
			t.Fatalf("node %d: %q size %d, saved %q size %d", i, n.FileName(), n.Size, nodes[i].FileName(), nodes[i].Size)
		}
	}
}

func checkSplitOK(t *testing.T, r *repo.Repository) {
	t.Helper()
	res, err := r.Check(context.Background(), repo.CheckOptions{ReadData: true})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !res.OK() {
		t.Fatalf("Check found problems: %v %v", res.Problems, res.Damaged)
	}
}
