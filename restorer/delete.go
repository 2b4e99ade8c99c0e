package restorer

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Restore's --delete (restic's): after a directory of the snapshot has
// been restored, the entries of its target directory that the snapshot's
// directory does not hold are removed, when the filters select them (an
// entry --include leaves out or --exclude names is kept, as in restic).
// Only directories the restore walked are looked at, so nothing outside
// the restored sub-path or the target is touched; every entry is reached
// through the directory handles of fs.TargetRoot (opened without following
// a symlink) and removed with unlinkat (a symlink goes, not what it points
// at; a directory goes with its contents, never followed).

// Actions given to RestoreOptions.Report.
const (
	ActionRestore   = "restore"   // a new entry
	ActionOverwrite = "overwrite" // an existing entry replaced or rewritten
	ActionUnchanged = "unchanged" // an existing file already holding the content (if-changed)
	ActionKeep      = "keep"      // an existing entry kept by the overwrite policy
	ActionDelete    = "delete"    // an entry not in the snapshot, removed by Delete
)

// ErrDeleteNeedsDir: Delete with a SubPath that is a file (there is no
// directory to mirror).
var ErrDeleteNeedsDir = errors.New("restore --delete mirrors a directory of the snapshot, not a single file")

// deleteIn removes the extra entries of target directory d, the
// counterpart of directory tree t of the snapshot at snapDir. A directory
// that was not made (a filter left it out, or an entry in its way was
// kept) is left alone.
func (rs *restorer) deleteIn(ctx context.Context, t *data.Tree, d *rdir, snapDir string) error {
	if !rs.opts.Delete || rs.fresh || !d.ready {
		return nil
	}
	h, err := rs.handle(d)
	if err != nil {
		rs.warn(rs.display(d.rel), fmt.Errorf("delete extra entries: %w", err))
		return nil
	}
	return rs.deleteExtras(ctx, t, h, d.rel, snapDir, false)
}

// deleteExtras removes (dry: only reports) the entries of target directory
// h (at rel) that tree t (snapDir in the snapshot) does not hold and the
// filters select. When t cannot be read completely nothing is removed.
func (rs *restorer) deleteExtras(ctx context.Context, t *data.Tree, h fs.TargetDir, rel, snapDir string, dry bool) error {
	names, err := rs.root.Names(h)
	if err != nil {
		rs.warn(rs.display(rel), fmt.Errorf("delete extra entries: %w", err))
		return nil
	}
	sort.Strings(names)
	// Both lists in byte order of names: one pass, one part of a split
	// directory in memory at a time.
	it := data.NewTreeIter(ctx, rs.r.LoadTreeBlob, t)
	n := it.Next()
	var extras []string
	for _, name := range names {
		for n != nil && n.FileName() < name {
			n = it.Next()
		}
		if n != nil && n.FileName() == name {
			continue
		}
		extras = append(extras, name)
	}
	if err := it.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rs.warn(snapDir, fmt.Errorf("directory not read completely, so nothing in %s was deleted: %w", rs.display(rel), err))
		return nil
	}
	for _, name := range extras {
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := rs.root.Lstat(h, name)
		if err != nil {
			continue // gone meanwhile
		}
		isDir := info.Kind == fs.KindDir
		if take, _ := rs.selected(path.Join(snapDir, name), isDir); !take {
			continue
		}
		erel := childRel(rel, name)
		if !dry {
			if err := rs.root.Remove(h, name, isDir); err != nil {
				rs.warn(rs.display(erel), err)
				continue
			}
		}
		rs.res.Deleted++
		rs.report(ActionDelete, erel)
	}
	return nil
}

// childRel is the target-relative path of name in the directory at rel.
func childRel(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}

// report tells RestoreOptions.Report what happens to rel.
func (rs *restorer) report(action, rel string) {
	if rs.opts.Report != nil {
		rs.opts.Report(action, rs.display(rel))
	}
}
