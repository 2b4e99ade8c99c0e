package restorer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Restore's --verify (restic's): after the restore, every regular file of
// the selection is read back from the target and compared with the
// snapshot: its size, then each chunk (cut at the lengths the index
// records) hashed with the repository's keyed blob hash and compared with
// the blob IDs of the snapshot's node. What this catches is what the
// restore's own checks cannot: every blob was already authenticated when
// it was decrypted, so a difference here comes from after the write (a
// disk or file system that lost or changed data, a file changed or
// replaced by someone else meanwhile, a restore bug placing a chunk at the
// wrong offset). Files are opened through fs.TargetRoot, never through a
// symlink; a file kept by --overwrite never is checked too (the target
// must hold the snapshot's content for --verify to pass).

// VerifyResult summarises a verification.
type VerifyResult struct {
	Files      int64    // regular files read back
	Bytes      int64    // their size
	Mismatched []string // target paths whose content differs, or that are missing or not regular files
	Errors     int64    // files that could not be checked (reported through Warn)
}

// Verify reads back the files a restore of sn with opts (Target, SubPath,
// Include, Exclude) wrote and compares them with the snapshot.
func Verify(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, opts RestoreOptions) (*VerifyResult, error) {
	ctx, release, err := r.HoldForRead(ctx, "restore --verify")
	if err != nil {
		return nil, err
	}
	defer release()
	if opts.Progress == nil {
		opts.Progress = &repo.Progress{}
	}
	rs := &restorer{r: r, opts: &opts, prog: opts.Progress,
		trees: &treePrefetcher{r: r, sem: make(chan struct{}, 4*runtime.GOMAXPROCS(0)), m: map[repo.ID]chan treeResult{}}}
	node, tree, snapBase, err := resolvePath(ctx, r, sn, opts.SubPath)
	if err != nil {
		return nil, err
	}
	if rs.target, err = absTarget(opts.Target); err != nil {
		return nil, err
	}
	rs.root, err = fs.OpenExistingTargetRoot(rs.target)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", rs.target, err)
	}
	defer rs.root.Close()
	v := &verifier{rs: rs, res: &VerifyResult{}}
	v.g, v.gctx = errgroup.WithContext(ctx)
	v.g.SetLimit(runtime.GOMAXPROCS(0))
	if tree == nil {
		err = v.entry(ctx, node, ".", snapBase)
	} else {
		err = v.dir(ctx, tree, ".", snapBase)
	}
	if werr := v.g.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return v.res, err
	}
	return v.res, nil
}

type verifier struct {
	rs   *restorer
	res  *VerifyResult
	mu   sync.Mutex
	g    *errgroup.Group
	gctx context.Context
}

func (v *verifier) dir(ctx context.Context, t *data.Tree, rel, snapDir string) error {
	err := data.EachPart(ctx, v.rs.r.LoadTreeBlob, t, func(_ int, part *data.Tree) error {
		for _, n := range part.Nodes {
			if err := v.entry(ctx, n, rel, path.Join(snapDir, n.FileName())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil && v.gctx.Err() == nil {
		v.warn(snapDir, err)
		return nil
	}
	return err
}

func (v *verifier) entry(ctx context.Context, n *data.Node, dirRel, snapPath string) error {
	if err := v.gctx.Err(); err != nil {
		return err
	}
	name := n.FileName()
	if !validName(name) {
		return nil // the restore reported it
	}
	isDir := n.Type == data.NodeDir
	take, descend := v.rs.selected(snapPath, isDir)
	rel := childRel(dirRel, name)
	if isDir {
		if !descend {
			return nil
		}
		sub, err := v.rs.trees.get(ctx, *n.Subtree)
		if err != nil {
			v.warn(snapPath, err)
			return nil
		}
		return v.dir(ctx, sub, rel, snapPath)
	}
	if !take || n.Type != data.NodeFile {
		return nil
	}
	v.g.Go(func() error {
		ok, err := v.check(v.gctx, rel, n)
		if err != nil {
			if v.gctx.Err() != nil {
				return v.gctx.Err()
			}
			v.warn(v.rs.display(rel), err)
			return nil
		}
		v.mu.Lock()
		v.res.Files++
		v.res.Bytes += int64(n.Size)
		if !ok {
			v.res.Mismatched = append(v.res.Mismatched, v.rs.display(rel))
		}
		v.mu.Unlock()
		v.rs.prog.Files.Add(1)
		v.rs.prog.Bytes.Add(int64(n.Size))
		return nil
	})
	return nil
}

// check reports whether the regular file at rel holds n's content; a
// missing entry, or one of another type (a symlink is not followed), does
// not.
func (v *verifier) check(ctx context.Context, rel string, n *data.Node) (bool, error) {
	f, _, err := v.rs.root.OpenRead(rel)
	switch {
	case err != nil && errors.Is(err, os.ErrPermission):
		return false, err // cannot tell: reported, not counted as a difference
	case err != nil:
		return false, nil // missing, a symlink (refused), not openable as a file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != int64(n.Size) {
		return false, nil
	}
	return contentMatches(ctx, v.rs.r, f, n)
}

func (v *verifier) warn(p string, err error) {
	v.mu.Lock()
	v.res.Errors++
	v.mu.Unlock()
	if v.rs.opts.Warn != nil {
		v.rs.opts.Warn(p, err)
	}
}
