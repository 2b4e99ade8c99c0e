package repo

import (
	"context"
	"fmt"

	"github.com/immich-vault/immich-vault/repo/backend"
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
	seen := map[string]bool{}
	for _, sn := range snaps {
		err := r.walk(ctx, sn.Tree, "/", func(p string, n *Node) error {
			if n.Type == NodeFile {
				st.Files++
				st.TotalSize += int64(n.Size)
				key := fmt.Sprint(n.Content)
				if !seen[key] {
					seen[key] = true
					st.UniqueFiles++
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
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
