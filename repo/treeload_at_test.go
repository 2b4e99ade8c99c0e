package repo

import (
	"context"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/data"
)

// TestLoadTreeBlobAt: a tree loads from the location its caller looked up
// already; a location that holds another tree (a stale or wrong one) never
// yields that tree: the blob's hash is checked against the ID asked for,
// and the tree is looked up and loaded as LoadTreeBlob does.
func TestLoadTreeBlobAt(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	trees := []*data.Tree{
		{Nodes: []*data.Node{{Name: "a", Type: data.NodeFile, Size: 1}}},
		{Nodes: []*data.Node{{Name: "b", Type: data.NodeFile, Size: 2}}},
	}
	ids := make([]ID, len(trees))
	err := r.WithUploader(ctx, func(ctx context.Context, up *Uploader) error {
		for i, tr := range trees {
			var err error
			if ids[i], err = up.SaveTree(ctx, tr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	locA, okA, errA := r.Cache().Lookup(ctx, pack.BlobHandle{ID: ids[0], Type: pack.TreeBlob})
	locB, okB, errB := r.Cache().Lookup(ctx, pack.BlobHandle{ID: ids[1], Type: pack.TreeBlob})
	if !okA || !okB || errA != nil || errB != nil {
		t.Fatalf("lookups: %v %v %v %v", okA, errA, okB, errB)
	}
	got, err := r.LoadTreeBlobAt(ctx, ids[0], locA)
	if err != nil || len(got.Nodes) != 1 || got.Nodes[0].Name != "a" {
		t.Fatalf("at its location: %+v, %v; want tree a", got, err)
	}
	got, err = r.LoadTreeBlobAt(ctx, ids[0], locB)
	if err != nil || len(got.Nodes) != 1 || got.Nodes[0].Name != "a" {
		t.Fatalf("at tree b's location: %+v, %v; want tree a (looked up again)", got, err)
	}
}
