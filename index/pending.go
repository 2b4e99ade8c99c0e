package index

import (
	"context"

	"github.com/immich-vault/immich-vault/pack"
)

// ClaimPending is AddPending for a caller that found h absent from the
// committed entries already (HasMany): it only claims h in the pending
// set, without reading the database again. It returns false when h is
// already pending. Were h committed after all, the caller would store it
// twice, which wastes space but loses nothing.
func (c *Cache) ClaimPending(ctx context.Context, h pack.BlobHandle) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[h]; ok {
		return false, nil
	}
	c.pending[h] = struct{}{}
	return true, nil
}
