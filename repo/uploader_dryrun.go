package repo

import (
	"context"

	"github.com/immich-vault/immich-vault/pack"
)

// WithDryRunUploader runs fn with an Uploader that stores nothing: every
// blob is deduplicated against the index and within the run exactly as
// WithUploader's are, compressed and sealed so that its Stats count what a
// real run would add (blobs, plaintext and sealed bytes), and dropped. No
// pack is written and no index file; the blobs claimed during the run are
// forgotten when fn returns. Backup's --dry-run uses it (with a reader
// lock, so blobs of packs a running prune has condemned count as stored,
// where a real backup would store them again: docs/FORMAT.md §10).
func (r *Repository) WithDryRunUploader(ctx context.Context, fn func(ctx context.Context, up *Uploader) error) error {
	up := &Uploader{r: r, dry: true, unindexed: map[pack.BlobHandle]struct{}{}}
	err := fn(ctx, up)
	up.forgetUnindexed()
	return err
}
