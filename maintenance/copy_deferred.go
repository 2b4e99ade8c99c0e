package maintenance

import (
	"context"
	"errors"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
)

// ErrCopyCacheUpdate: every snapshot was copied (packs, index files and
// snapshots are stored), but merging the copied blobs into the
// destination's local cache failed. The repository is complete; the next
// command that opens it merges what the cache lacks.
var ErrCopyCacheUpdate = errors.New("the copy is complete, but the local cache of the destination was not updated")

// dstHasMany reports for every blob of ids (of type t) whether the
// destination has it: in its cache (stored before this run, or pending in
// this process; one read transaction) or in an index file this run wrote.
// The cache does not learn this run's blobs until the end
// (repo.DeferredIndex): fed blob by blob, it took 9 M random keys through
// Badger's compactions (issue 13).
func (c *copier) dstHasMany(ctx context.Context, t pack.BlobType, ids []repo.ID) ([]bool, error) {
	hs := make([]pack.BlobHandle, len(ids))
	for i, id := range ids {
		hs[i] = pack.BlobHandle{ID: id, Type: t}
	}
	has, err := c.dst.Cache().HasMany(ctx, hs)
	if err != nil {
		return nil, err
	}
	for i, h := range hs {
		if has[i] {
			continue
		}
		if has[i], err = c.deferred.Has(h); err != nil {
			return nil, err
		}
	}
	return has, nil
}
