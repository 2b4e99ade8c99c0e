package restorer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Restore's dry run (restic's restore --dry-run): the snapshot is walked
// with the restore's own selection (rs.selected) and every entry is
// compared with what the target holds, read through fs.TargetRoot without
// following a symlink; nothing is created, written, removed or changed (the
// target is not even created when missing). Each entry is reported with the
// action a restore would take; with Delete, the extra entries too.

// plan is Restore with DryRun set: node, tree and snapBase are what
// resolvePath found.
func (rs *restorer) plan(ctx context.Context, node *data.Node, tree *data.Tree, snapBase string) (*RestoreResult, error) {
	root, err := fs.OpenExistingTargetRoot(rs.target)
	switch {
	case errors.Is(err, os.ErrNotExist):
		rs.fresh = true // nothing exists: everything would be restored
	case err != nil:
		return nil, fmt.Errorf("target %s: %w", rs.target, err)
	default:
		defer root.Close()
		rs.root = root
		names, err := root.Names(root.RootDir())
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", rs.target, err)
		}
		if len(names) > 0 && rs.opts.Overwrite == OverwriteUnset {
			return nil, fmt.Errorf("%s: %w", rs.target, repo.ErrTargetNotEmpty)
		}
		rs.fresh = len(names) == 0
	}
	var h fs.TargetDir
	if !rs.fresh {
		h = root.RootDir()
	}
	if tree == nil {
		rs.planEntry(ctx, node, h, !rs.fresh, ".", snapBase)
		return &rs.res, ctx.Err()
	}
	if node != nil {
		// The restored directory itself: the target.
		rs.res.Dirs++
	}
	if err := rs.planDir(ctx, tree, h, !rs.fresh, ".", snapBase); err != nil {
		return &rs.res, err
	}
	return &rs.res, nil
}

// planDir plans directory tree t whose target directory is h (at rel;
// exists false: it does not exist yet, so neither does anything in it).
func (rs *restorer) planDir(ctx context.Context, t *data.Tree, h fs.TargetDir, exists bool, rel, snapDir string) error {
	err := data.EachPart(ctx, rs.r.LoadTreeBlob, t, func(_ int, part *data.Tree) error {
		for _, n := range part.Nodes {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := rs.planEntry(ctx, n, h, exists, rel, path.Join(snapDir, n.FileName())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rs.warn(snapDir, err)
		rs.damaged(snapDir)
		return nil
	}
	if exists && rs.opts.Delete {
		return rs.deleteExtras(ctx, t, h, rel, snapDir, true)
	}
	return nil
}

// planEntry plans node n, to be restored as n.FileName() in target
// directory h (at dirRel; exists false: not there yet).
func (rs *restorer) planEntry(ctx context.Context, n *data.Node, h fs.TargetDir, exists bool, dirRel, snapPath string) error {
	name := n.FileName()
	if !validName(name) {
		rs.warn(snapPath, fmt.Errorf("%w: invalid file name %q in the snapshot", repo.ErrCorrupt, name))
		return nil
	}
	isDir := n.Type == data.NodeDir
	take, descend := rs.selected(snapPath, isDir)
	if (isDir && !descend) || (!isDir && !take) {
		return nil
	}
	rel := childRel(dirRel, name)
	var info fs.EntryInfo
	found := false
	if exists {
		var err error
		info, err = rs.root.Lstat(h, name)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, os.ErrNotExist):
			rs.warn(rs.display(rel), err)
			return nil
		}
	}
	replace := rs.opts.Overwrite == OverwriteAlways || rs.opts.Overwrite == OverwriteIfChanged
	if isDir {
		sub, err := rs.trees.get(ctx, *n.Subtree)
		if err != nil {
			rs.warn(snapPath, err)
			rs.damaged(snapPath)
			return nil
		}
		subExists := false
		var sh fs.TargetDir
		switch {
		case !found:
			if take {
				rs.report(ActionRestore, rel)
			}
		case info.Kind == fs.KindDir:
			if sh, err = rs.root.OpenDir(h, name); err != nil {
				rs.warn(rs.display(rel), err)
				return nil
			}
			defer fs.CloseDir(sh)
			subExists = true
		case replace:
			rs.res.Overwritten++
			rs.report(ActionOverwrite, rel)
		default:
			rs.warn(rs.display(rel), fmt.Errorf("%w: it is %s, not a directory as in the snapshot, and would be kept", ErrEntryInTheWay, info.Kind))
			return nil
		}
		if take {
			rs.res.Dirs++
			if rs.countNeed {
				rs.need += needBlock
			}
		}
		return rs.planDir(ctx, sub, sh, subExists, rel, snapPath)
	}
	if found {
		switch {
		case !replace:
			rs.res.Skipped++
			rs.report(ActionKeep, rel)
			return nil
		case rs.opts.Overwrite == OverwriteIfChanged && n.Type == data.NodeFile && info.Kind == fs.KindFile && info.Size == int64(n.Size):
			ok, err := fileMatches(ctx, rs.r, rs.root, rel, n)
			if err != nil {
				return err
			}
			if ok {
				rs.res.Skipped++
				rs.report(ActionUnchanged, rel)
				return nil
			}
		}
		rs.res.Overwritten++
		rs.report(ActionOverwrite, rel)
	} else {
		rs.report(ActionRestore, rel)
	}
	if n.Type == data.NodeFile {
		rs.res.Bytes += int64(n.Size)
		rs.prog.Bytes.Add(int64(n.Size))
	}
	if rs.countNeed {
		rs.need += (int64(n.Size) + needBlock - 1) / needBlock * needBlock
	}
	rs.res.Files++
	rs.prog.Files.Add(1)
	return nil
}

// needBlock is the allocation unit spaceNeeded rounds to (ext4's, xfs's and
// btrfs's usual block).
const needBlock = 4096
