package repo

import (
	"context"
	"fmt"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Trees in blobs: the bridge between the blob store and the snapshot data
// types of repo/data.

// LoadTree loads and decodes a tree blob.
func (r *Repository) LoadTree(ctx context.Context, id ID) (*data.Tree, error) {
	b, err := r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.TreeBlob}, nil)
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	t, err := data.DecodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return t, nil
}

// SaveTree encodes and stores t, returning its ID.
func (up *Uploader) SaveTree(ctx context.Context, t *data.Tree) (ID, error) {
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
	return data.FindNodeIn(ctx, r.LoadTree, sn.Tree, p, sn.ID().Short())
}
