package repo

import (
	"context"
	"fmt"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Trees in blobs: the bridge between the blob store and the snapshot data
// types of repo/data.

// LoadTree loads and decodes a tree blob; a split directory comes back
// assembled (all its nodes, in memory: walkers of large directories use
// LoadTreeBlob and data.EachNode instead).
func (r *Repository) LoadTree(ctx context.Context, id ID) (*data.Tree, error) {
	t, err := r.loadTreeBlob(ctx, id)
	if err != nil || len(t.Parts) == 0 {
		return t, err
	}
	return data.AssembleTree(ctx, r.loadTreeBlob, t)
}

// loadTreeBlob loads and decodes one tree blob, a split directory's index
// as it is stored.
func (r *Repository) loadTreeBlob(ctx context.Context, id ID) (*data.Tree, error) {
	b, err := r.loadTreeBytes(ctx, id) // a window of its pack at a time (treewindow.go)
	return decodeLoadedTree(id, b, err)
}

// decodeLoadedTree decodes the stored bytes of tree id, or wraps the error
// that loading them returned.
func decodeLoadedTree(id ID, b []byte, err error) (*data.Tree, error) {
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	t, err := data.DecodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return t, nil
}

// SaveTree encodes and stores t, returning its ID. In a version 2
// repository a directory larger than the split threshold is stored split
// (docs/FORMAT.md §9.3).
func (up *Uploader) SaveTree(ctx context.Context, t *data.Tree) (ID, error) {
	b, err := data.EncodeTree(t)
	if err != nil {
		return ID{}, err
	}
	if len(t.Parts) == 0 && up.splitThreshold() > 0 && len(b) > up.splitThreshold() {
		return up.saveSplit(ctx, t.Nodes)
	}
	id, _, err := up.SaveBlob(ctx, pack.TreeBlob, b)
	return id, err
}

// saveTreeBlob stores t as one tree blob, never split (copy keeps the
// source's parts as they are).
func (up *Uploader) saveTreeBlob(ctx context.Context, t *data.Tree) (ID, error) {
	b, err := data.EncodeTree(t)
	if err != nil {
		return ID{}, err
	}
	id, _, err := up.SaveBlob(ctx, pack.TreeBlob, b)
	return id, err
}

// FindNode returns the node at path p of snapshot sn, or nil for the
// snapshot's root ("/", "" or anything that cleans to it). p is taken as
// absolute ("a/b" is "/a/b"). A missing entry gives ErrPathNotFound, a
// component that is not a directory ErrNotADirectory, both wrapped with the
// path and the snapshot's short ID. It is the one path resolver of the
// program (ls, dump, restore, immich restore and verify).
func (r *Repository) FindNode(ctx context.Context, sn *Snapshot, p string) (*data.Node, error) {
	// Trees as stored: in a split directory only the part that can hold
	// the name is loaded.
	return data.FindNodeIn(ctx, r.loadTreeBlob, sn.Tree, p, sn.ID().Short())
}
