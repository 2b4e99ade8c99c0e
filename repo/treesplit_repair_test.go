package repo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// TestSplitDirectoryRepairStreams: repair snapshots rewrites a split
// directory a part at a time through the tree builder. Two files of a
// 3,000-entry split directory reference a lost blob: both are renamed to
// a free ".damaged" name (one collides with an existing entry and gets
// ".damaged-2"), the renamed entries land in name order (after
// "f00100.b", which sorts between old and new name), every other entry is
// kept, the parts before the first damage keep their IDs, and check is
// clean afterwards. --dry-run reports the same damage and writes nothing.
func TestSplitDirectoryRepairStreams(t *testing.T) {
	repo.SetTreeSplitForTest(t, 16<<10)
	ctx := context.Background()
	r := repotest.New(t)
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	lost := repo.ID{9, 9, 9} // no such blob
	var nodes []*data.Node
	add := func(name string, content []repo.ID) {
		nodes = append(nodes, &data.Node{Name: name, Type: data.NodeFile, Mode: 0o644, ModTime: mtime, ChangeTime: mtime, Content: content})
	}
	for i := range 3000 {
		name := fmt.Sprintf("f%05d", i)
		switch i {
		case 100, 2500:
			add(name, []repo.ID{lost})
		default:
			add(name, nil)
		}
		if i == 100 {
			add(name+".b", nil)       // between "f00100" and "f00100.damaged"
			add(name+".damaged", nil) // taken: the renamed entry gets .damaged-2
		}
	}
	var root, dirID repo.ID
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		var err error
		if dirID, err = up.SaveTree(ctx, &data.Tree{Nodes: nodes}); err != nil {
			return err
		}
		dir := &data.Node{Name: "d", Type: data.NodeDir, Mode: 0o755, ModTime: mtime, ChangeTime: mtime, Subtree: &dirID}
		root, err = up.SaveTree(ctx, &data.Tree{Nodes: []*data.Node{dir}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := r.LoadTreeBlobForTest(ctx, dirID)
	if err != nil || len(before.Parts) < 4 {
		t.Fatalf("the test directory is not split: %v, %d parts", err, len(before.Parts))
	}
	sn := &repo.Snapshot{Time: mtime, Host: "h", Paths: []string{"/d"}, Tree: root}
	if _, err := r.SaveSnapshot(ctx, sn); err != nil {
		t.Fatal(err)
	}
	wantDamaged := []string{"/d/f00100", "/d/f02500"}

	dry, err := r.RepairSnapshots(ctx, repo.RepairSnapshotsOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry) != 1 || fmt.Sprint(dry[0].DamagedFiles) != fmt.Sprint(wantDamaged) {
		t.Fatalf("repair snapshots --dry-run: %+v, want damaged %v", dry, wantDamaged)
	}
	if snaps, _ := r.Snapshots(ctx, nil); len(snaps) != 1 {
		t.Fatalf("--dry-run wrote a snapshot: %d snapshots", len(snaps))
	}

	rep, err := r.RepairSnapshots(ctx, repo.RepairSnapshotsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 1 || rep[0].New == "" || fmt.Sprint(rep[0].DamagedFiles) != fmt.Sprint(wantDamaged) {
		t.Fatalf("repair snapshots: %+v, want damaged %v", rep, wantDamaged)
	}
	snaps, err := r.Snapshots(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var repaired *repo.Snapshot
	for _, s := range snaps {
		if s.ID().String() == rep[0].New {
			repaired = s
		}
	}
	if repaired == nil {
		t.Fatalf("repaired snapshot %s not listed", rep[0].New)
	}
	dn, after := splitOf(t, r, repaired, "/d")
	if len(after.Parts) < 4 {
		t.Fatalf("the repaired directory is not split: %d parts", len(after.Parts))
	}
	if after.Parts[0].Subtree != before.Parts[0].Subtree {
		t.Errorf("the first part (before any damage) changed its ID: %s → %s", before.Parts[0].Subtree, after.Parts[0].Subtree)
	}
	full, err := r.LoadTree(ctx, *dn.Subtree)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range full.Nodes {
		names = append(names, n.FileName())
	}
	if len(names) != len(nodes) {
		t.Fatalf("repaired directory has %d entries, want %d", len(names), len(nodes))
	}
	idx := map[string]int{}
	for i, n := range names {
		if i > 0 && names[i-1] >= n {
			t.Fatalf("entries out of order: %q before %q", names[i-1], n)
		}
		idx[n] = i
	}
	for _, n := range []string{"f00100.b", "f00100.damaged", "f00100.damaged-2", "f02500.damaged"} {
		if _, ok := idx[n]; !ok {
			t.Errorf("entry %q missing after repair", n)
		}
	}
	for _, n := range []string{"f00100", "f02500"} {
		if _, ok := idx[n]; ok {
			t.Errorf("damaged entry %q kept its name", n)
		}
	}
	checkSplitOK(t, r)
}
