package repo

import (
	"context"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Stats describe a repository.
type Stats struct {
	Snapshots      int   `json:"snapshots"`
	Files          int64 `json:"files"`      // files in the selected snapshots (counted per snapshot)
	TotalSize      int64 `json:"total_size"` // their restore size
	Blobs          int64 `json:"blobs"`
	Packs          int64 `json:"packs"`
	RepositorySize int64 `json:"repository_size"` // bytes of all repository files
	UniqueFiles    int64 `json:"unique_files"`
}

// Stats computes statistics over the given snapshots (nil: all).
func (r *Repository) Stats(ctx context.Context, snaps []*Snapshot) (*Stats, error) {
	ctx, release, err := r.hold(ctx, lockRead, "stats") // docs/FORMAT.md §10.3
	if err != nil {
		return nil, err
	}
	defer release()
	if snaps == nil {
		snaps, err = r.Snapshots(ctx, nil)
		if err != nil {
			return nil, err
		}
	}
	st := &Stats{Snapshots: len(snaps)}
	// Each distinct tree is read once: its totals are remembered (a few
	// bytes per tree), and the contents of its files go, hashed, to a set
	// on disk that counts the distinct ones. Walking every snapshot in
	// full read every tree once per snapshot, and a map of every content
	// list grew with the files.
	uniq, err := index.NewHandleSet(r.tableDir())
	if err != nil {
		return nil, err
	}
	defer uniq.Close()
	memo := map[ID]treeTotals{}
	for _, sn := range snaps {
		tt, err := r.treeTotals(ctx, sn.Tree, memo, uniq)
		if err != nil {
			return nil, err
		}
		st.Files += tt.files
		st.TotalSize += tt.size
	}
	if err := uniq.Freeze(nil); err != nil {
		return nil, err
	}
	st.UniqueFiles = uniq.Len()
	if st.Blobs, err = r.cache.Count(); err != nil {
		return nil, err
	}
	for _, t := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.KeyFile, backend.LockFile} {
		err := r.be.List(ctx, t, func(fi backend.FileInfo) error {
			st.RepositorySize += fi.Size
			if t == backend.PackFile {
				st.Packs++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// treeTotals are the files below a tree and their size.
type treeTotals struct{ files, size int64 }

func (r *Repository) treeTotals(ctx context.Context, id ID, memo map[ID]treeTotals, uniq *index.HandleSet) (treeTotals, error) {
	if tt, ok := memo[id]; ok {
		return tt, nil
	}
	if err := ctx.Err(); err != nil {
		return treeTotals{}, err
	}
	t, err := r.loadTreeBlob(ctx, id)
	if err != nil {
		return treeTotals{}, err
	}
	var tt treeTotals
	var buf []byte
	// A split directory one part at a time (repo/data/treesplit.go).
	err = data.EachNode(ctx, r.loadTreeBlob, t, func(n *data.Node) error {
		switch {
		case n.Type == data.NodeFile:
			tt.files++
			tt.size += int64(n.Size)
			buf = buf[:0]
			for _, c := range n.Content {
				buf = append(buf, c[:]...)
			}
			if err := uniq.Add(pack.BlobHandle{ID: crypto.Hash(buf)}); err != nil {
				return err
			}
		case n.Type == data.NodeDir && n.Subtree != nil:
			sub, err := r.treeTotals(ctx, *n.Subtree, memo, uniq)
			if err != nil {
				return err
			}
			tt.files += sub.files
			tt.size += sub.size
		}
		return nil
	})
	if err != nil {
		return treeTotals{}, err
	}
	memo[id] = tt
	return tt, nil
}
