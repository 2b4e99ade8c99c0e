package repo

import (
	"context"
	"errors"
	"fmt"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
)

// IndexTable returns the repository index as its index files state it,
// on disk (index.Table, in the cache directory; the caller closes it):
// for a command that looks up many blobs of a repository whose cache it
// does not need to keep, e.g. the source of copy. Building it streams
// every index file once; lookups are pread calls, so the resident size
// does not grow with the index, unlike random lookups in the Badger cache
// (its tables are mapped, and each page fault maps its neighbours too). A
// damaged index file is skipped with a warning, as SyncIndex does; any
// other failure to load one fails.
func (r *Repository) IndexTable(ctx context.Context) (*index.Table, error) {
	var failed error
	ri, err := r.loadRepoIndex(ctx, func(id ID, err error) {
		if id.IsNull() || errors.Is(err, ErrCorrupt) || errors.Is(err, pack.ErrCorrupt) {
			r.opts.warn("index file %s is damaged and was skipped (%v); check and repair index can fix this", id.Short(), err)
			return
		}
		if failed == nil {
			failed = fmt.Errorf("load index file %s: %w", id.Short(), err)
		}
	})
	if err != nil {
		return nil, err
	}
	if failed != nil {
		ri.close()
		return nil, failed
	}
	return ri.t, nil
}

// TableLocation returns where t keeps h (its first holder), or ok=false.
func TableLocation(t *index.Table, h pack.BlobHandle) (loc index.Location, ok bool, err error) {
	holders, err := t.Lookup(h)
	if err != nil || len(holders) == 0 {
		return index.Location{}, false, err
	}
	loc, err = (&repoIndex{t: t}).location(holders[0])
	return loc, err == nil, err
}

// LoadBlobAt returns the plaintext of blob h stored at loc, verified
// against its ID (for a caller that located h itself, e.g. in a Table).
func (r *Repository) LoadBlobAt(ctx context.Context, h pack.BlobHandle, loc index.Location, buf []byte) ([]byte, error) {
	return r.loadBlobAt(ctx, h, loc, buf)
}

// HoldForIndexRead is HoldForRead for a reader that looks blobs up in
// IndexTable (built after this returns) instead of the local cache, e.g.
// the source of copy: the same shared reader lock, so that a prune's
// deletion waits for it (docs/FORMAT.md §10.3), without bringing the cache
// up to date (on a new host that is a bulk load of the whole index). The
// lock does not serve later engine reads through this Repository: they
// take their own and sync the cache.
func (r *Repository) HoldForIndexRead(ctx context.Context, purpose string) (context.Context, func(), error) {
	if r.held.find(lockRead) != nil {
		return r.hold(ctx, lockRead, purpose) // reuses the held lock
	}
	lk, err := r.lock(ctx, LockOptions{Purpose: purpose, Reader: true}, lockPlain)
	if err != nil {
		if ctx.Err() == nil {
			// As hold: a read-only medium or a copy without locks/.
			r.opts.warn("%s: could not store a reader lock (%v); reading without one, so a prune running at the same time may delete packs this %s reads", purpose, err, purpose)
			return ctx, func() {}, nil
		}
		return nil, nil, err
	}
	return lk.Context(), func() { lk.Unlock() }, nil
}
