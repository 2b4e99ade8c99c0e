package maintenance

import (
	"context"
	"errors"

	"github.com/immich-vault/immich-vault/pack"
)

// ErrCopyCacheUpdate: every snapshot was copied (packs, index files and
// snapshots are stored), but merging the copied blobs into the
// destination's local cache failed. The repository is complete; the next
// command that opens it merges what the cache lacks.
var ErrCopyCacheUpdate = errors.New("the copy is complete, but the local cache of the destination was not updated")

// dstHas reports whether the destination has h: in its cache (stored
// before this run, or pending in this process) or in an index file this
// run wrote. The cache does not learn this run's blobs until the end
// (repo.DeferredIndex): fed blob by blob, it took 9 M random keys through
// Badger's compactions (issue 13).
func (c *copier) dstHas(ctx context.Context, h pack.BlobHandle) (bool, error) {
	has, err := c.dst.Cache().Has(ctx, h)
	if err != nil || has {
		return has, err
	}
	return c.deferred.Has(h)
}
