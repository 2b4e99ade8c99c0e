package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
)

// DeferredIndex lets a writer of millions of new blobs (copy) keep them out
// of the cache until it is done. Its uploaders (WithDeferredUploader) write
// packs and index files as WithUploader's do, but do not merge the index
// files into the cache: the blobs they list are kept in an on-disk set
// (index.RunSet) that answers "already stored" for the rest of the
// session, and Commit merges the files into the cache at the end, in key
// order (index.Cache.MergeIndexFiles). Fed blob by blob, Badger's
// compactions rewrote each of the 9 M entries of a copy many times: 20 GB
// written and 25 times the CPU time of a tenth of the blobs (issue 13).
//
// The cache never knows a blob that no stored index file lists: an
// interrupted session leaves index files the cache has not merged, which
// the next open of the repository merges (SyncIndex), and blobs whose
// index file was not written are in neither.
type DeferredIndex struct {
	r   *Repository
	set *index.RunSet

	mu    sync.Mutex
	files []ID
}

// NewDeferredIndex starts a deferred session; Close it when done (after
// Commit). capacity is about the most blobs the session will store (it
// sizes a filter of about 1.25 bytes a blob; 0 if unknown).
func (r *Repository) NewDeferredIndex(capacity int64) (*DeferredIndex, error) {
	dir := r.cacheTmp
	if dir == "" {
		dir = os.TempDir()
	}
	set, err := index.NewRunSet(dir, capacity)
	if err != nil {
		return nil, err
	}
	return &DeferredIndex{r: r, set: set}, nil
}

// WithDeferredUploader is WithUploader with the cache's updates deferred
// to d.Commit.
func (r *Repository) WithDeferredUploader(ctx context.Context, d *DeferredIndex, fn func(ctx context.Context, up *Uploader) error) error {
	if d == nil || d.r != r {
		return errors.New("repo: WithDeferredUploader needs a DeferredIndex of this repository")
	}
	return r.withUploader(ctx, d, fn)
}

// SaveAbsentBlobWithID is SaveBlobWithID for a deferred uploader's caller
// that found id absent from the cache in this session (Cache.HasMany): the
// cache's database is not read again (copy asked it twice per blob: 10 %
// of its CPU time at 3 M blobs). Pending blobs and this session's index
// files are still checked.
func (up *Uploader) SaveAbsentBlobWithID(ctx context.Context, t pack.BlobType, id ID, data []byte) (bool, error) {
	if up.deferred == nil {
		return up.SaveBlobWithID(ctx, t, id, data)
	}
	return up.saveBlob(ctx, t, id, data, up.r.cache.ClaimPending)
}

// Has reports whether an index file written in this session lists h.
func (d *DeferredIndex) Has(h pack.BlobHandle) (bool, error) {
	return d.set.Has(h)
}

// Blobs returns the number of blobs listed by the index files written in
// this session.
func (d *DeferredIndex) Blobs() int64 { return d.set.Len() }

// add records index file id (stored) with content f.
func (d *DeferredIndex) add(id ID, f *index.File) error {
	if err := d.set.AddFile(f); err != nil {
		return fmt.Errorf("record index file %s: %w", id.Short(), err)
	}
	d.mu.Lock()
	d.files = append(d.files, id)
	d.mu.Unlock()
	return nil
}

// Commit merges the index files written in this session into the cache
// (read back from the repository: the cache learns what they list, and
// nothing else). No uploader of d may be running.
func (d *DeferredIndex) Commit(ctx context.Context) error {
	d.mu.Lock()
	files := d.files
	d.files = nil
	d.mu.Unlock()
	if len(files) == 0 {
		return nil
	}
	i := 0
	next := func() (ID, *index.File, error) {
		if i == len(files) {
			return ID{}, nil, io.EOF
		}
		id := files[i]
		i++
		f, err := d.r.LoadIndexFile(ctx, id)
		return id, f, err
	}
	if err := d.r.cache.MergeIndexFiles(ctx, d.r.cacheTmp, d.set.Len(), next); err != nil {
		// The files stay unmerged: the next SyncIndex merges them.
		d.mu.Lock()
		d.files = append(files, d.files...)
		d.mu.Unlock()
		return fmt.Errorf("merge this session's index files into the cache: %w", err)
	}
	return nil
}

// Close removes the session's temporary files.
func (d *DeferredIndex) Close() error { return d.set.Close() }
