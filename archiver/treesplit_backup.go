package archiver

import (
	"context"
	"errors"
	"fmt"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// dirWindow bounds the entries of one directory whose nodes are pending
// (submitted, not yet added to its tree): a directory of any size is
// backed up in memory bounded by the window (a few hundred bytes per
// entry) and the tree builder. It is wide so that one large file at the
// head of the window (a video among photos) does not leave the file
// workers idle while it is read.
const dirWindow = 8192

// unchangedRun is how many nodes equal to the parent snapshot's the
// collector holds before encoding them: an unchanged directory smaller
// than that reuses the parent's tree without being encoded at all.
const unchangedRun = 4096

// collectDir starts the goroutine that turns the futures of directory p's
// entries (sent on the returned channel, in name order, which the caller
// closes after the last) into its tree, and returns the channel and the
// directory node's future. parent is the directory's node in the parent
// snapshot and parentTree its tree as stored (nil: none). entries is how
// many entries the directory has (at most that many are sent): the window
// is allocated no wider, since most directories are far smaller than
// dirWindow (a full-width channel cost 64 KiB per directory, 2.8 GiB of
// allocations for the 45 000 directories of 50 000 Immich thumbnails).
func (a *archiver) collectDir(ctx context.Context, p string, n, parent *data.Node, parentTree *data.Tree, entries int) (chan<- future, future) {
	futs := make(chan future, min(dirWindow, entries))
	out := make(future, 1)
	a.walkers.Add(1)
	go func() {
		defer a.walkers.Done()
		id, err := a.buildDir(ctx, futs, parent, parentTree)
		if errors.Is(err, repo.ErrBlobTooLarge) {
			err = fmt.Errorf("directory %s: its entries encode to a tree larger than the 64 MiB limit of one tree blob (about 150,000 to 250,000 entries, fewer with long names), and this repository is format version 1, whose directories cannot be split (version 2 repositories, which `init` creates, split them); exclude part of it, split it into subdirectories, or back up into a version 2 repository: %w", p, err)
		}
		if err != nil {
			out <- nodeResult{nil, err}
			return
		}
		n.Subtree = &id
		out <- nodeResult{n, nil}
	}()
	return futs, out
}

// buildDir adds the nodes of futs to a tree builder and stores the tree.
// After an error it keeps receiving (and dropping) futures, so that the
// sender is never blocked.
func (a *archiver) buildDir(ctx context.Context, futs <-chan future, parent *data.Node, parentTree *data.Tree) (repo.ID, error) {
	b := a.up.NewTreeBuilder()
	// While every node equals the parent's node at the same position the
	// nodes wait in run: an unchanged directory reuses the parent's tree
	// ID without encoding, hashing and looking it up again (the parent's
	// tree is in the local cache: LoadTreeBlob found it there, after
	// PrepareWrite dropped condemned blobs).
	same := parentTree != nil
	prev := data.NewTreeIter(ctx, a.r.LoadTreeBlob, parentTree)
	var run []*data.Node
	var err error
	flushRun := func() error {
		for _, n := range run {
			if err := b.Add(ctx, n); err != nil {
				return err
			}
		}
		run = run[:0]
		return nil
	}
	for f := range futs {
		if err != nil {
			continue
		}
		var res nodeResult
		select {
		case res = <-f:
		case <-ctx.Done():
			err = ctx.Err()
			continue
		}
		if res.err != nil {
			err = res.err
			continue
		}
		if res.node == nil {
			continue
		}
		if same {
			if pn := prev.Next(); pn == nil || !sameNode(res.node, pn) {
				same = false
			}
		}
		run = append(run, res.node)
		if !same || len(run) >= unchangedRun {
			err = flushRun()
		}
	}
	if err != nil {
		return repo.ID{}, err
	}
	if same && prev.Next() == nil {
		return *parent.Subtree, nil
	}
	if err := flushRun(); err != nil {
		return repo.ID{}, err
	}
	return b.Finish(ctx)
}
