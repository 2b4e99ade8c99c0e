package restorer

import (
	"context"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
)

// locateGroup is the most data blobs a batchLocator looks up at once: it
// bounds the lookup's memory (about 130 bytes a blob) below a batch's
// restoreBatchBlobs while keeping the groups dense enough to share the
// index's pages (index.Cache.LookupMany).
var locateGroup = 64 << 10 // variable for the tests

// batchLocator looks up the data blobs of a batch's files for its plan, in
// groups of files with up to locateGroup blobs, each group with one
// index.Cache.LookupMany (a point lookup per blob cost a restore of small
// files about a tenth of its CPU).
type batchLocator struct {
	ctx   context.Context
	r     *repo.Repository
	files []*restoreFile // the files to plan, in the plan's order
	next  int            // files[next] is the next file asked for

	group  int // files[next:group] are looked up
	locs   []index.Location
	found  []bool
	offset int // locs[offset] is files[next]'s first blob
}

// newBatchLocator prepares the lookups of the files of batch that are
// neither done nor failed.
func newBatchLocator(ctx context.Context, r *repo.Repository, batch []*restoreFile) *batchLocator {
	b := &batchLocator{ctx: ctx, r: r}
	for _, f := range batch {
		if !f.done.Load() && !f.failed.Load() {
			b.files = append(b.files, f)
		}
	}
	return b
}

// file returns the locations of f's data blobs (found[i] false: not in
// the index). Files are asked for in the batch's order; a file out of
// that order is looked up on its own.
func (b *batchLocator) file(f *restoreFile) (locs []index.Location, found []bool, err error) {
	n := len(f.node.Content)
	if b.next >= len(b.files) || b.files[b.next] != f {
		return b.lookup(f.node.Content)
	}
	if b.next == b.group {
		var ids []repo.ID
		for b.group < len(b.files) && (b.group == b.next || len(ids)+len(b.files[b.group].node.Content) <= locateGroup) {
			ids = append(ids, b.files[b.group].node.Content...)
			b.group++
		}
		if b.locs, b.found, err = b.lookup(ids); err != nil {
			return nil, nil, err
		}
		b.offset = 0
	}
	locs, found = b.locs[b.offset:][:n], b.found[b.offset:][:n]
	b.offset += n
	b.next++
	return locs, found, nil
}

func (b *batchLocator) lookup(ids []repo.ID) ([]index.Location, []bool, error) {
	hs := make([]pack.BlobHandle, len(ids))
	for i, id := range ids {
		hs[i] = pack.BlobHandle{ID: id, Type: pack.DataBlob}
	}
	return b.r.Cache().LookupMany(b.ctx, hs)
}
