package repo

import (
	"context"
	"fmt"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/data"
)

// RawStats is what the selected snapshots take in the repository: the
// distinct blobs (file contents and trees) they reference, counted once
// however many snapshots and files share them (restic's raw-data mode).
type RawStats struct {
	Snapshots  int   `json:"snapshots"`
	Blobs      int64 `json:"blobs"`       // distinct data and tree blobs referenced
	RawSize    int64 `json:"raw_size"`    // their plaintext size
	StoredSize int64 `json:"stored_size"` // their size in packs (compressed and encrypted)
	Missing    int64 `json:"missing"`     // referenced but not in the index (check reports them)
}

// RawDataStats computes RawStats over snaps (nil: all snapshots). Each tree
// is read once; the referenced blobs go to a set on disk, so memory does not
// grow with the repository.
func (r *Repository) RawDataStats(ctx context.Context, snaps []*Snapshot) (*RawStats, error) {
	ctx, release, err := r.hold(ctx, lockRead, "stats") // docs/FORMAT.md §10.3
	if err != nil {
		return nil, err
	}
	defer release()
	if snaps == nil {
		if snaps, err = r.Snapshots(ctx, nil); err != nil {
			return nil, err
		}
	}
	blobs, err := index.NewHandleSet(r.tableDir())
	if err != nil {
		return nil, err
	}
	defer blobs.Close()
	seen := map[ID]bool{}
	var walk func(id ID) error
	walk = func(id ID) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := blobs.Add(pack.BlobHandle{ID: id, Type: pack.TreeBlob}); err != nil {
			return err
		}
		t, err := r.loadTreeBlob(ctx, id)
		if err != nil {
			return err
		}
		for i := range t.Parts { // a split directory's parts are blobs too (FORMAT §9.3)
			if err := walk(t.Parts[i].Subtree); err != nil {
				return err
			}
		}
		for _, n := range t.Nodes {
			for _, c := range n.Content {
				if err := blobs.Add(pack.BlobHandle{ID: c, Type: pack.DataBlob}); err != nil {
					return err
				}
			}
			if n.Type == data.NodeDir && n.Subtree != nil {
				if err := walk(*n.Subtree); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, sn := range snaps {
		if err := walk(sn.Tree); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", sn.id.Short(), err)
		}
	}
	if err := blobs.Freeze(nil); err != nil {
		return nil, err
	}
	st := &RawStats{Snapshots: len(snaps), Blobs: blobs.Len()}
	err = blobs.ForEach(func(h pack.BlobHandle) error {
		loc, ok, err := r.cache.Lookup(ctx, h)
		if err != nil {
			return err
		}
		if !ok {
			st.Missing++
			return nil
		}
		st.RawSize += int64(loc.RawLength)
		st.StoredSize += int64(loc.Length)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
