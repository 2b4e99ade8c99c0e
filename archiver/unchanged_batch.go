package archiver

import (
	"context"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// walkBatch is how many entries of a directory saveDir lstats before it
// submits them: the files among them that are unchanged since the parent
// snapshot are found with one index read transaction (Cache.HasMany) and
// kept by the walker itself, without a trip through the file workers.
const walkBatch = 256

// walkEntry is an lstat'ed entry of a directory being walked.
type walkEntry struct {
	path   string
	node   *data.Node // from lstat
	parent *data.Node // the entry's node in the parent snapshot (nil: none)
	// keep: the file need not be read, its content is the parent's (set
	// by markUnchanged).
	keep bool
}

// sameFileAsParent reports whether regular file n (from lstat) is the
// file the parent snapshot recorded as parent at the same path: same
// device, inode, size, mtime and ctime, and content for a non-empty file
// (whether that content is still in the repository is checked apart).
func sameFileAsParent(n, parent *data.Node) bool {
	return n.Type == data.NodeFile && parent.Type == data.NodeFile && parent.Inode == n.Inode && parent.Size == n.Size &&
		parent.ModTime.Equal(n.ModTime) && parent.ChangeTime.Equal(n.ChangeTime) && parent.Device == n.Device &&
		(len(parent.Content) > 0) == (n.Size > 0)
}

// markUnchanged sets unchanged for the regular files of batch that match
// their parent node (sameFileAsParent) and whose content blobs are all
// stored or pending, asking the index once for the whole batch. The rest
// go to the file workers, which decide again (unchanged) and read them.
func (a *archiver) markUnchanged(ctx context.Context, batch []walkEntry) {
	if a.opts.ForceRead {
		return
	}
	var hs []pack.BlobHandle
	for _, e := range batch {
		if e.parent != nil && sameFileAsParent(e.node, e.parent) {
			for _, id := range e.parent.Content {
				hs = append(hs, pack.BlobHandle{ID: id, Type: pack.DataBlob})
			}
		}
	}
	var has []bool
	var err error
	switch len(hs) {
	case 0: // no candidate, or only empty files
	case 1: // most Immich thumbnail directories hold one file
		var ok bool
		ok, err = a.r.Cache().Has(ctx, hs[0])
		has = []bool{ok}
	default:
		has, err = a.r.Cache().HasMany(ctx, hs)
	}
	if err != nil {
		return // the file workers decide (and read) them one by one
	}
	k := 0
	for i := range batch {
		e := &batch[i]
		if e.parent == nil || !sameFileAsParent(e.node, e.parent) {
			continue
		}
		all := true
		for range e.parent.Content {
			all = all && has[k]
			k++
		}
		e.keep = all
	}
}

// keepUnchanged finishes the node of a regular file whose content ids
// (the parent's, or the file cache's) are kept without reading it.
func (a *archiver) keepUnchanged(n *data.Node, ids []repo.ID, p string) {
	n.Content = ids
	a.extMetaUnread(n, p)
	a.sum.filesUnmodified.Add(1)
	a.sum.bytesProcessed.Add(int64(n.Size))
	a.prog.Files.Add(1)
	a.prog.Bytes.Add(int64(n.Size))
}
