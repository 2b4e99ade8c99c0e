package repo

import (
	"cmp"
	"context"
	"errors"
	"path"

	"github.com/immich-vault/immich-vault/repo/data"
)

// ErrSkipDir, returned by a Walk callback for a directory, skips its contents.
var ErrSkipDir = errors.New("repo: skip this directory")

// Walk calls fn for every node below tree id in depth-first, name order,
// with its absolute path inside the snapshot (prefix "/" for the root).
func (r *Repository) Walk(ctx context.Context, id ID, prefix string, fn func(p string, n *data.Node) error) error {
	ctx, release, err := r.hold(ctx, lockRead, "ls") // docs/FORMAT.md §10.3
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops loading ahead
	return r.walkAhead(ctx, newTreePrefetcher(r), id, prefix, fn)
}

func (r *Repository) walk(ctx context.Context, id ID, prefix string, fn func(p string, n *data.Node) error) error {
	return r.walkAhead(ctx, nil, id, prefix, fn)
}

// walkAhead is walk, its trees loaded through pf (nil: one at a time).
func (r *Repository) walkAhead(ctx context.Context, pf *treePrefetcher, id ID, prefix string, fn func(p string, n *data.Node) error) error {
	load := r.loadTreeBlob
	if pf != nil {
		load = pf.get
	}
	t, err := load(ctx, id)
	if err != nil {
		return err
	}
	// A split directory one part at a time (repo/data/treesplit.go).
	return data.EachNode(ctx, load, t, func(n *data.Node) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := path.Join(prefix, n.FileName())
		err := fn(p, n)
		if errors.Is(err, ErrSkipDir) {
			return nil
		}
		if err != nil {
			return err
		}
		if n.Type == data.NodeDir && n.Subtree != nil {
			return r.walkAhead(ctx, pf, *n.Subtree, p, fn)
		}
		return nil
	})
}

// Change kinds reported by Diff.
const (
	ChangeAdded    = '+'
	ChangeRemoved  = '-'
	ChangeModified = 'M' // content or type differs
	ChangeMeta     = 'U' // only metadata differs
)

// Diff compares two trees, calling fn for every changed path. Identical
// subtrees (same ID) are skipped without loading them.
func (r *Repository) Diff(ctx context.Context, a, b ID, prefix string, fn func(kind rune, p string, n *data.Node) error) error {
	ctx, release, err := r.hold(ctx, lockRead, "diff") // docs/FORMAT.md §10.3
	if err != nil {
		return err
	}
	defer release()
	return r.diff(ctx, a, b, prefix, fn)
}

func (r *Repository) diff(ctx context.Context, a, b ID, prefix string, fn func(kind rune, p string, n *data.Node) error) error {
	if a == b {
		return nil
	}
	ta, err := r.loadTreeBlob(ctx, a)
	if err != nil {
		return err
	}
	tb, err := r.loadTreeBlob(ctx, b)
	if err != nil {
		return err
	}
	// Both directories in name order, a split one a part at a time
	// (repo/data/treesplit.go).
	ia, ib := data.NewTreeIter(ctx, r.loadTreeBlob, ta), data.NewTreeIter(ctx, r.loadTreeBlob, tb)
	nextA, nextB := ia.Next(), ib.Next()
	for nextA != nil || nextB != nil {
		if err := cmp.Or(ia.Err(), ib.Err()); err != nil {
			return err
		}
		var na, nb *data.Node
		switch {
		case nextB == nil || (nextA != nil && nextA.FileName() < nextB.FileName()):
			na, nextA = nextA, ia.Next()
		case nextA == nil || nextB.FileName() < nextA.FileName():
			nb, nextB = nextB, ib.Next()
		default:
			na, nb = nextA, nextB
			nextA, nextB = ia.Next(), ib.Next()
		}
		switch {
		case nb == nil:
			if err := r.reportAll(ctx, ChangeRemoved, path.Join(prefix, na.FileName()), na, fn); err != nil {
				return err
			}
		case na == nil:
			if err := r.reportAll(ctx, ChangeAdded, path.Join(prefix, nb.FileName()), nb, fn); err != nil {
				return err
			}
		default:
			p := path.Join(prefix, na.FileName())
			if na.Type != nb.Type {
				if err := r.reportAll(ctx, ChangeRemoved, p, na, fn); err != nil {
					return err
				}
				if err := r.reportAll(ctx, ChangeAdded, p, nb, fn); err != nil {
					return err
				}
				continue
			}
			if na.Type == data.NodeDir {
				if metaDiffers(na, nb) {
					if err := fn(ChangeMeta, p, nb); err != nil {
						return err
					}
				}
				if err := r.diff(ctx, *na.Subtree, *nb.Subtree, p, fn); err != nil {
					return err
				}
				continue
			}
			if !sameContent(na, nb) {
				if err := fn(ChangeModified, p, nb); err != nil {
					return err
				}
			} else if metaDiffers(na, nb) {
				if err := fn(ChangeMeta, p, nb); err != nil {
					return err
				}
			}
		}
	}
	return cmp.Or(ia.Err(), ib.Err())
}

func sameContent(a, b *data.Node) bool {
	if a.Size != b.Size || len(a.Content) != len(b.Content) || a.Target() != b.Target() || a.Rdev != b.Rdev {
		return false
	}
	for i := range a.Content {
		if a.Content[i] != b.Content[i] {
			return false
		}
	}
	return true
}

func metaDiffers(a, b *data.Node) bool {
	return a.Mode != b.Mode || a.UID != b.UID || a.GID != b.GID || !a.ModTime.Equal(b.ModTime) || !data.SameExt(a, b)
}

func (r *Repository) reportAll(ctx context.Context, kind rune, p string, n *data.Node, fn func(rune, string, *data.Node) error) error {
	if err := fn(kind, p, n); err != nil {
		return err
	}
	if n.Type == data.NodeDir && n.Subtree != nil {
		return r.walk(ctx, *n.Subtree, p, func(q string, m *data.Node) error { return fn(kind, q, m) })
	}
	return nil
}
