package restorer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Overwrite policies for restore.
type Overwrite int

const (
	// OverwriteUnset refuses a non-empty target.
	OverwriteUnset Overwrite = iota
	// OverwriteNever keeps existing files untouched.
	OverwriteNever
	// OverwriteIfChanged rewrites existing files whose content differs
	// (checked by hashing them against the snapshot's blob IDs); this makes
	// an interrupted restore resumable.
	OverwriteIfChanged
	// OverwriteAlways rewrites every file.
	OverwriteAlways
)

// ParseOverwrite parses never|if-changed|always.
func ParseOverwrite(s string) (Overwrite, error) {
	switch s {
	case "":
		return OverwriteUnset, nil
	case "never":
		return OverwriteNever, nil
	case "if-changed":
		return OverwriteIfChanged, nil
	case "always":
		return OverwriteAlways, nil
	}
	return 0, fmt.Errorf("unknown overwrite policy %q (want never, if-changed or always)", s)
}

// RestoreOptions describe one restore.
type RestoreOptions struct {
	Target    string
	SubPath   string       // absolute path inside the snapshot; "" or "/" = everything
	Include   *data.Filter // matched against snapshot paths; empty = all
	Exclude   *data.Filter
	Overwrite Overwrite
	// Warn receives per-file problems (damaged blobs...). May be called concurrently.
	Warn     func(path string, err error)
	Progress *repo.Progress
	Workers  int // parallel pack fetches (0: max(GOMAXPROCS, backend connections))
	// DryRun writes nothing to the target (not even creates it): it
	// reports what a restore would do (dryrun.go).
	DryRun bool
	// Delete removes the entries of the target's directories that the
	// snapshot's (or SubPath's) directories do not hold and the filters
	// select (delete.go); with DryRun they are only reported.
	Delete bool
	// Report, if set, is told what happens to each entry (the Action*
	// constants) by its path in the target. With DryRun every entry is
	// reported; otherwise only deletions. Called from one goroutine.
	Report func(action, path string)
	// SpaceCheck, if set, is asked before anything is written into a
	// target that is missing or empty, with the bytes the restore needs
	// there (checkSpace); its error ends the restore with nothing
	// written. The command's checks the target's free space.
	SpaceCheck func(need int64) error
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	Files, Dirs, Links int64
	Bytes              int64
	Skipped            int64 // existing files left as they were
	// Damaged: snapshot paths of files whose data could not be read from
	// the repository (missing or corrupt blobs, unreadable packs).
	Damaged []string
	// Unwritten: snapshot paths of files the target refused (not created,
	// or not completely written: permissions, a read-only file system, an
	// I/O error). Their data in the repository is fine.
	Unwritten []string
	Errors    int64
	// NotRestored counts, by kind ("acl", "user", "security.capability",
	// "security", "trusted", "flags"...), extended metadata the target
	// could not take (file system without support, or privileges the
	// restoring user lacks). The first of each kind is also warned about
	// (an error wrapping ErrMetaNotRestored); they are not Errors.
	NotRestored map[string]int64
	// Deleted counts the entries Delete removed (or, DryRun, would remove).
	Deleted int64
	// Overwritten counts, in a dry run, the existing entries that a
	// restore would replace or rewrite (Files counts them too).
	Overwritten int64
}

// ErrTargetFull: the target's file system has no space left (ENOSPC), or
// the restoring user's quota is used up (EDQUOT). The restore stops at the
// first such error, since every later write would fail too: the files
// already written completely are kept (with their metadata), the ones it
// was writing are removed, and what it had not reached is not there.
// Restoring again with OverwriteIfChanged once there is room goes on from
// there: files already restored are verified and kept.
var ErrTargetFull = errors.New("restore target is full")

// ErrTargetReadOnly: the target's file system is read-only (EROFS): the
// restore stops at the first write it refuses, as for ErrTargetFull.
var ErrTargetReadOnly = errors.New("restore target is read-only")

// ErrTargetTooSmall: the target's file system has less free space than
// the restore needs (RestoreOptions.SpaceCheck); nothing was written.
var ErrTargetTooSmall = errors.New("restore target has too little free space")

// ErrMetaNotRestored: extended attributes, ACLs or file flags of a kind the
// target file system does not support or the restoring user may not set.
var ErrMetaNotRestored = errors.New("repo: extended metadata not restored")

type restoreFile struct {
	node     *data.Node
	rel      string // on disk, relative to the target (resolved beneath it, never through a symlink)
	snapPath string // in the snapshot
	existing bool
	// single: one blob and no existing file: the pack worker that writes
	// the blob creates the file and sets its metadata in one go.
	single   bool
	done     atomic.Bool // content already correct
	failed   atomic.Bool
	metaDone atomic.Bool
	// unwritten: failed because the target refused it (a write, a create),
	// not because its data is damaged.
	unwritten atomic.Bool
	// created: this restore created the file (CreateSized); left: its
	// blobs still to write. A created file with blobs left is incomplete.
	created atomic.Bool
	left    atomic.Int64
}

type blobTarget struct {
	file   *restoreFile
	offset int64
}

type restorer struct {
	r       *repo.Repository
	opts    *RestoreOptions
	prog    *repo.Progress
	res     RestoreResult
	resMu   sync.Mutex
	batch   []*restoreFile
	nblobs  int
	fresh   bool // the target was empty or missing: nothing pre-exists
	links   map[[2]uint64]string
	pending [][2]string // hardlinks to create after contents: {existing, new}, relative to the target
	dirs    []dirMeta
	trees   *treePrefetcher
	// root is the target directory, opened once: every path below it is
	// resolved from it without following symlinks (restore never writes
	// outside its target).
	root   *fs.TargetRoot
	target string // absolute path of the target, for messages
	// dirs of a fresh target are created by one goroutine (mkdirs) while
	// the walk goes on: mkdir is kernel time, the walk mostly user time.
	mkdirs chan mkdirReq
	// flagged: files with inode flags, set after every file and hard
	// link exists (an immutable file refuses new links).
	flagged []*restoreFile
	// cancel stops the restore with its cause; stopped is the first
	// ErrTargetFull or ErrTargetReadOnly (set once under resMu, then
	// cancel is called; read with stopErr: the mkdir worker and the pack
	// workers set it).
	cancel  context.CancelCauseFunc
	stopped error
	// countNeed: a dry run for spaceNeeded, which sums need.
	countNeed bool
	need      int64
}

// rdir is a directory of the target as the walk sees it. Its handle (an
// open directory, resolved from its parent's without following symlinks)
// is opened when the walk first needs it and closed when the walk leaves
// the directory, so at most one handle per level is open.
type rdir struct {
	parent *rdir
	name   string // in parent; "" for the target itself
	rel    string // relative to the target; "." for the target itself
	// Walk goroutine only:
	h     fs.TargetDir
	open  bool
	ready bool // exists as a directory (checked, created or queued for creation)
	// closed: the walk has left the directory; once the batch holding its
	// last files is written, its metadata is set (applyDirs) and it is
	// forgotten, so memory does not grow with the number of directories.
	closed bool
	// keep: its metadata waits for the end of the restore (a hard link
	// to create in it, or a file with flags below it).
	keep bool
	// node: the snapshot's directory (nil for one only made to hold
	// selected entries); final (set by mkdirWorker, read after a
	// mkdirBarrier): created with its final owner and mode.
	node  *data.Node
	final bool
}

func (d *rdir) child(name string) *rdir {
	rel := name
	if d.rel != "." {
		rel = d.rel + "/" + name
	}
	return &rdir{parent: d, name: name, rel: rel}
}

// childRel is the target-relative path of name in d.
func (d *rdir) childRel(name string) string {
	if d.rel == "." {
		return name
	}
	return d.rel + "/" + name
}

// display is the path of rel for messages.
func (rs *restorer) display(rel string) string {
	if rel == "." {
		return rs.target
	}
	return rs.target + string(filepath.Separator) + filepath.FromSlash(rel)
}

// handle returns d's open directory handle, opening it (and its parents)
// when needed. Walk goroutine only.
func (rs *restorer) handle(d *rdir) (fs.TargetDir, error) {
	if d.open {
		return d.h, nil
	}
	ph, err := rs.handle(d.parent)
	if err != nil {
		return ph, err
	}
	h, err := rs.root.OpenDir(ph, d.name)
	if err != nil {
		return h, err
	}
	d.h, d.open = h, true
	return h, nil
}

// release closes d's handle when the walk leaves d.
func (rs *restorer) release(d *rdir) {
	if d.open && d.parent != nil {
		fs.CloseDir(d.h)
		d.open = false
	}
}

// ErrEntryInTheWay: an existing entry of the target has another type than
// the snapshot's node at that path and the overwrite policy keeps it.
var ErrEntryInTheWay = errors.New("repo: an existing entry of another type is in the way")

// makeDir makes d a directory (walk goroutine, parent ready). In a fresh
// target it is queued for the mkdir goroutine; otherwise an existing
// directory is kept, anything else in the way (a file, a symlink: never
// followed) is replaced when the overwrite policy allows it.
func (rs *restorer) makeDir(ctx context.Context, d *rdir) error {
	if rs.mkdirs != nil {
		select {
		case rs.mkdirs <- mkdirReq{dir: d}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ph, err := rs.handle(d.parent)
	if err != nil {
		return err
	}
	info, err := rs.root.Lstat(ph, d.name)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case info.Kind == fs.KindDir:
		return nil
	case rs.opts.Overwrite == OverwriteAlways || rs.opts.Overwrite == OverwriteIfChanged:
		if err := rs.root.Remove(ph, d.name, false); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: it is %s, not a directory as in the snapshot, and was kept", ErrEntryInTheWay, info.Kind)
	}
	return rs.root.Mkdir(ph, d.name)
}

// ensure makes d (and its parents) exist as directories: the walk creates
// a directory when it enters it, or, for a directory that is not selected
// itself (include filters), when a selected entry inside needs it.
func (rs *restorer) ensure(ctx context.Context, d *rdir) error {
	if d.ready {
		return nil
	}
	if err := rs.ensure(ctx, d.parent); err != nil {
		return err
	}
	if err := rs.makeDir(ctx, d); err != nil {
		return err
	}
	d.ready = true
	return nil
}

// mkdirReq asks the mkdir goroutine to create dir, or (dir nil) to close
// done once everything queued before it is created.
type mkdirReq struct {
	dir  *rdir
	done chan struct{}
}

// mkdirWorker creates the directories queued on rs.mkdirs, in order (the
// walk queues a parent before its children, and a directory's descendants
// right after it). It keeps the chain of directories leading to the last
// one created, with their handles opened on demand, so each directory is
// created relative to its parent's handle.
func (rs *restorer) mkdirWorker() {
	type level struct {
		d    *rdir
		h    fs.TargetDir
		open bool
	}
	var stack []level
	pop := func() {
		if l := stack[len(stack)-1]; l.open {
			fs.CloseDir(l.h)
		}
		stack = stack[:len(stack)-1]
	}
	defer func() {
		for len(stack) > 0 {
			pop()
		}
	}()
	// handleAt returns the handle of the directory at stack[i] (the
	// target for -1), opening it relative to the one below if needed.
	var handleAt func(i int) (fs.TargetDir, error)
	handleAt = func(i int) (fs.TargetDir, error) {
		if i < 0 {
			return rs.root.RootDir(), nil
		}
		l := &stack[i]
		if !l.open {
			ph, err := handleAt(i - 1)
			if err != nil {
				return ph, err
			}
			if l.h, err = rs.root.OpenDir(ph, l.d.name); err != nil {
				return l.h, err
			}
			l.open = true
		}
		return l.h, nil
	}
	for req := range rs.mkdirs {
		if req.done != nil {
			close(req.done)
			continue
		}
		d := req.dir
		for len(stack) > 0 && stack[len(stack)-1].d != d.parent {
			pop()
		}
		if len(stack) == 0 && d.parent.parent != nil {
			// Not a child of the chain (cannot happen with the walk's
			// order, kept for safety): resolve the parent from the target.
			h, err := rs.root.ResolveDir(d.parent.rel)
			if err != nil {
				rs.warn(rs.display(d.rel), err)
				continue
			}
			stack = append(stack, level{d: d.parent, h: h, open: true})
		}
		ph, err := handleAt(len(stack) - 1)
		if err == nil {
			perm, final := uint32(0), false
			if d.node != nil {
				perm, final = rs.root.DirCreatesAs(d.node)
			}
			if final {
				err = rs.root.MkdirMode(ph, d.name, perm)
				d.final = err == nil
			} else {
				err = rs.root.Mkdir(ph, d.name)
			}
			if errors.Is(err, os.ErrExist) {
				// Safe to use: it is only ever opened as a directory
				// without following a symlink.
				err = nil
			}
		}
		if err != nil {
			rs.warn(rs.display(d.rel), err)
			continue
		}
		stack = append(stack, level{d: d})
	}
}

// mkdirBarrier waits until every queued directory exists.
func (rs *restorer) mkdirBarrier() {
	if rs.mkdirs == nil {
		return
	}
	done := make(chan struct{})
	rs.mkdirs <- mkdirReq{done: done}
	<-done
}

// treePrefetcher loads subtrees in the background while the restore walks
// their parent, so the (sequential) walk rarely waits for a tree.
type treePrefetcher struct {
	r   *repo.Repository
	sem chan struct{}
	mu  sync.Mutex
	m   map[repo.ID]chan treeResult
}

type treeResult struct {
	t   *data.Tree
	err error
}

func (p *treePrefetcher) prefetch(ctx context.Context, id repo.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[id]; ok {
		return
	}
	if len(p.m) >= maxPrefetchedTrees {
		return // enough loaded ahead: get loads it itself
	}
	ch := make(chan treeResult, 1)
	p.m[id] = ch
	go p.loadOne(ctx, id, ch)
}

// loadOne loads tree id into ch (and prefetches its subtrees).
func (p *treePrefetcher) loadOne(ctx context.Context, id repo.ID, ch chan treeResult) {
	// Queued while the loads in flight are at their bound, not
	// dropped: a dropped subtree breaks the chain of loads ahead.
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		ch <- treeResult{nil, ctx.Err()}
		return
	}
	t, err := p.r.LoadTreeBlob(ctx, id) // as stored: a split directory's parts load as rs.walk reaches them
	<-p.sem
	ch <- treeResult{t, err}
	if err == nil {
		p.ahead(ctx, t)
	}
}

// maxPrefetchedTrees bounds the trees loaded ahead and not yet walked.
const maxPrefetchedTrees = 256

// ahead prefetches the subtrees of t (its subdirectories, or a split
// directory's first part), so a loaded tree pulls in the next level while
// the walk is still above it: several levels are in flight at once
// instead of one round trip per directory (issue 14).
func (p *treePrefetcher) ahead(ctx context.Context, t *data.Tree) {
	if len(t.Parts) > 0 {
		p.prefetch(ctx, t.Parts[0].Subtree)
		return
	}
	var ids []repo.ID
	for _, n := range t.Nodes {
		if n.Type == data.NodeDir && n.Subtree != nil {
			ids = append(ids, *n.Subtree)
		}
	}
	if len(ids) == 1 {
		p.prefetch(ctx, ids[0])
	} else if len(ids) > 1 {
		p.prefetchSiblings(ctx, ids)
	}
}

// treeWant is one tree to load into its channel, located in its pack.
type treeWant struct {
	id  repo.ID
	ch  chan treeResult
	e   pack.Entry
	loc index.Location
}

// prefetchSiblings loads the trees of sibling directories, which the
// backup stored one after another: those in one pack within
// repo.MaxRangeGap of each other are read with one backend request (one
// open and read locally, one round trip from S3) instead of one each.
func (p *treePrefetcher) prefetchSiblings(ctx context.Context, ids []repo.ID) {
	var ws []treeWant
	p.mu.Lock()
	for _, id := range ids {
		if _, ok := p.m[id]; ok {
			continue
		}
		if len(p.m) >= maxPrefetchedTrees {
			break
		}
		ch := make(chan treeResult, 1)
		p.m[id] = ch
		ws = append(ws, treeWant{id: id, ch: ch})
	}
	p.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	go func() {
		byPack := map[repo.ID][]treeWant{}
		hs := make([]pack.BlobHandle, len(ws))
		for i, w := range ws {
			hs[i] = pack.BlobHandle{ID: w.id, Type: pack.TreeBlob}
		}
		locs, found, err := p.r.Cache().LookupMany(ctx, hs) // one read transaction, keys in order
		for i, w := range ws {
			if err != nil || !found[i] {
				go p.loadOne(ctx, w.id, w.ch) // reports the error as a single load does
				continue
			}
			loc := locs[i]
			w.e, w.loc = loc.Entry(hs[i]), loc
			byPack[loc.Pack] = append(byPack[loc.Pack], w)
		}
		for packID, run := range byPack {
			sort.Slice(run, func(i, j int) bool { return run[i].e.Offset < run[j].e.Offset })
			for start := 0; start < len(run); {
				first := int64(run[start].e.Offset)
				end := start + 1
				for end < len(run) && int64(run[end].e.Offset) <= int64(run[end-1].e.Offset)+int64(run[end-1].e.Length)+repo.MaxRangeGap &&
					int64(run[end].e.Offset)+int64(run[end].e.Length)-first <= maxTreeRangeSpan {
					end++
				}
				go p.loadRun(ctx, packID, run[start:end])
				start = end
			}
		}
	}()
}

// maxTreeRangeSpan bounds one request for sibling trees.
const maxTreeRangeSpan = 4 << 20

// loadRun reads the trees of run (sorted by offset, in pack packID) with
// one backend request. A tree that fails here (the request, or the blob
// itself) is loaded again alone by LoadTreeBlob, which re-syncs a stale
// index and reports errors as every other tree load does.
func (p *treePrefetcher) loadRun(ctx context.Context, packID repo.ID, run []treeWant) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		for _, w := range run {
			w.ch <- treeResult{nil, ctx.Err()}
		}
		return
	}
	// Through the repository's tree windows (repo/treewindow.go), last
	// tree first: its window ends with the run and reaches back over the
	// trees before it, so the run costs one request (and a window read
	// for an earlier level, e.g. the root's, may hold it already: no
	// request). Reading the run directly from the pack, past the windows,
	// cost one round trip per tree level on S3.
	trees := make([]*data.Tree, len(run))
	for i := len(run) - 1; i >= 0; i-- {
		if t, err := p.r.LoadTreeBlobAt(ctx, run[i].id, run[i].loc); err == nil { // looked up above: not again
			trees[i] = t
		}
	}
	<-p.sem
	for i, w := range run {
		if trees[i] == nil {
			go p.loadOne(ctx, w.id, w.ch)
			continue
		}
		w.ch <- treeResult{trees[i], nil}
	}
	for _, t := range trees {
		if t != nil {
			p.ahead(ctx, t)
		}
	}
}

func (p *treePrefetcher) get(ctx context.Context, id repo.ID) (*data.Tree, error) {
	p.mu.Lock()
	ch, ok := p.m[id]
	delete(p.m, id)
	p.mu.Unlock()
	if ok {
		res := <-ch
		return res.t, res.err
	}
	return p.r.LoadTreeBlob(ctx, id)
}

type dirMeta struct {
	rel  string
	node *data.Node
	d    *rdir // nil for the target itself
}

const restoreBatchBlobs = 250_000

// restoreBatchFiles bounds a batch by files too: empty files have no blobs,
// and a directory of a million of them was one batch (all its nodes in
// memory until the end).
var restoreBatchFiles = 50_000 // variable for the tests

// Restore writes the snapshot (or its SubPath) into opts.Target.
func Restore(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, opts RestoreOptions) (*RestoreResult, error) {
	ctx, release, err := r.HoldForRead(ctx, "restore") // docs/FORMAT.md §10.3
	if err != nil {
		return nil, err
	}
	defer release()
	if opts.Progress == nil {
		opts.Progress = &repo.Progress{}
	}
	if opts.Workers <= 0 {
		opts.Workers = max(runtime.GOMAXPROCS(0), r.Backend().Properties().Connections)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rs := &restorer{r: r, opts: &opts, prog: opts.Progress, links: map[[2]uint64]string{}, cancel: cancel,
		trees: &treePrefetcher{r: r, sem: make(chan struct{}, 4*runtime.GOMAXPROCS(0)), m: map[repo.ID]chan treeResult{}}}
	node, tree, snapBase, err := resolvePath(ctx, r, sn, opts.SubPath)
	if err != nil {
		return nil, err
	}
	target, err := absTarget(opts.Target)
	if err != nil {
		return nil, err
	}
	rs.target = target
	if opts.Delete && tree == nil {
		return nil, fmt.Errorf("%s is a file: %w", snapBase, ErrDeleteNeedsDir)
	}
	if opts.DryRun {
		return rs.plan(ctx, node, tree, snapBase) // dryrun.go
	}
	if entries, err := os.ReadDir(target); err == nil && len(entries) > 0 && opts.Overwrite == OverwriteUnset {
		return nil, fmt.Errorf("%s: %w", target, repo.ErrTargetNotEmpty)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("target %s: %w", target, err)
	} else {
		rs.fresh = len(entries) == 0
	}
	if rs.fresh && opts.SpaceCheck != nil {
		if err := checkSpace(ctx, r, sn, opts, target, node, tree, snapBase); err != nil {
			return nil, err
		}
	}
	// The target path itself is the user's choice (it may be or go
	// through a symlink); nothing below it is ever followed.
	rs.root, err = fs.OpenTargetRoot(target)
	if err != nil {
		return nil, fmt.Errorf("create target: %w", err)
	}
	defer rs.root.Close()
	rs.root.Report = rs.metaRefused
	if rs.fresh {
		rs.root.AssumeFresh()
	}
	top := &rdir{rel: ".", h: rs.root.RootDir(), open: true, ready: true}
	if rs.fresh {
		rs.mkdirs = make(chan mkdirReq, 4096)
		go rs.mkdirWorker()
		defer close(rs.mkdirs)
	}
	if tree != nil {
		err = rs.walk(ctx, tree, top, snapBase)
		if err == nil {
			err = rs.deleteIn(ctx, tree, top, snapBase) // delete.go
		}
		if err == nil && node != nil {
			rs.dirs = append(rs.dirs, dirMeta{".", node, nil})
		}
	} else {
		err = rs.entry(ctx, node, top, snapBase)
	}
	if err == nil {
		err = rs.flush(ctx)
	}
	if stop := rs.stopErr(); stop != nil {
		return &rs.res, stop
	}
	if err != nil {
		return &rs.res, err
	}
	for _, l := range rs.pending {
		if err := rs.root.Link(l[0], l[1]); err != nil {
			rs.warn(rs.display(l[1]), err)
			continue
		}
		rs.res.Links++
	}
	// File flags after contents, metadata and links; directories get
	// theirs with their metadata, below.
	for _, f := range rs.flagged {
		if f.failed.Load() {
			continue
		}
		if err := rs.root.SetFlags(f.rel, f.node); err != nil {
			rs.warn(rs.display(f.rel), err)
		}
	}
	// Directory metadata last, deepest first, so writing files inside does
	// not disturb their mtimes.
	rs.applyDirs(false)
	if stop := rs.stopErr(); stop != nil { // a link or a directory's attributes found no room
		return &rs.res, stop
	}
	return &rs.res, nil
}

// keepMeta defers the metadata of d and its parents to the end of the
// restore: hard links are created in d then, and file flags set below it
// (a read-only directory set early would refuse both to a non-root user).
func (d *rdir) keepMeta() {
	for ; d != nil && !d.keep; d = d.parent {
		d.keep = true
	}
}

// applyDirs sets the metadata of the directories in rs.dirs, deepest
// first (rs.dirs is in walk order: a directory before its contents). With
// onlyClosed, only of those the walk has left whose contents are all
// written (the batches flushed so far hold all their files) and that
// wait for nothing at the end (keep); the others stay in rs.dirs. Each
// is set by name from its parent's handle, opened once for its siblings.
func (rs *restorer) applyDirs(onlyClosed bool) {
	var (
		parent *rdir
		ph     fs.TargetDir
		phOK   bool
		perr   error // opening parent failed
		kept   []dirMeta
	)
	closeParent := func() {
		if phOK {
			fs.CloseDir(ph)
		}
		parent, phOK, perr = nil, false, nil
	}
	defer closeParent()
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		dm := rs.dirs[i]
		if onlyClosed && (dm.d == nil || !dm.d.closed || dm.d.keep) {
			kept = append(kept, dm)
			continue
		}
		var err error
		if dm.d == nil || dm.d.parent == nil {
			err = rs.root.SetMeta(dm.rel, dm.node)
		} else {
			if p := dm.d.parent; p != parent {
				closeParent()
				parent = p
				if p.parent == nil {
					ph = rs.root.RootDir()
				} else if ph, perr = rs.root.ResolveDir(p.rel); perr == nil {
					phOK = true
				}
			}
			switch err = perr; {
			case err != nil:
			case dm.d.final && len(dm.node.XAttrs) == 0 && dm.node.Flags&data.StoredFlags == 0:
				err = rs.root.SetDirTimes(ph, dm.d.name, dm.node)
			default:
				err = rs.root.SetDirMeta(ph, dm.d.name, dm.rel, dm.node)
			}
		}
		if err != nil {
			rs.warn(rs.display(dm.rel), err)
		}
	}
	slices.Reverse(kept)
	rs.dirs = kept
}

// absTarget is the absolute path of the target, for messages and opening.
func absTarget(p string) (string, error) { return filepath.Abs(p) }

// resolvePath finds the node at p inside the snapshot (FindNode). For a
// directory it returns its tree; for the root it returns node nil and the
// root tree.
func resolvePath(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, p string) (*data.Node, *data.Tree, string, error) {
	p = path.Clean("/" + p)
	node, err := r.FindNode(ctx, sn, p)
	if err != nil {
		return nil, nil, "", err
	}
	id := sn.Tree
	switch {
	case node == nil:
	case node.Type == data.NodeDir:
		id = *node.Subtree
	default:
		return node, nil, p, nil
	}
	tree, err := r.LoadTreeBlob(ctx, id) // rs.walk loads a split directory's parts
	if err != nil {
		return nil, nil, "", err
	}
	return node, tree, p, nil
}

func (rs *restorer) warn(p string, err error) {
	if TargetStop(err) != nil {
		rs.stopTarget(p, err)
		return
	}
	if rs.stopErr() != nil {
		// After the stop, what fails is its consequence (a directory the
		// stopped mkdir worker did not create, a cancelled tree load): the
		// restore ends with the one error that says why.
		return
	}
	rs.resMu.Lock()
	rs.res.Errors++
	rs.resMu.Unlock()
	rs.prog.Errors.Add(1)
	if rs.opts.Warn != nil {
		rs.opts.Warn(p, err)
	}
}

// metaRefused counts extended metadata of kind that the target refused
// at rel, warning about the first of each kind.
func (rs *restorer) metaRefused(rel, kind string, err error) {
	rs.resMu.Lock()
	if rs.res.NotRestored == nil {
		rs.res.NotRestored = map[string]int64{}
	}
	rs.res.NotRestored[kind]++
	first := rs.res.NotRestored[kind] == 1
	rs.resMu.Unlock()
	if first && rs.opts.Warn != nil {
		what := kind + " extended attributes"
		switch kind {
		case "acl":
			what = "ACLs"
		case data.MetaKindFlags:
			what = "file flags"
		case "security.capability":
			what = "file capabilities (security.capability)"
		}
		rs.opts.Warn(rs.display(rel), fmt.Errorf("%w: %s cannot be restored here (%v): the target file system does not support them, or setting them needs privileges this user lacks (trusted.* and security.* attributes and the immutable and append-only flags need root); further ones are counted in the summary, not reported", ErrMetaNotRestored, what, err))
	}
}

func (rs *restorer) selected(snapPath string, isDir bool) (take, descend bool) {
	if rs.opts.Exclude.Match(snapPath) {
		return false, false
	}
	if rs.opts.Include.Empty() {
		return true, true
	}
	if rs.opts.Include.Match(snapPath) {
		return true, true
	}
	// Not selected itself; a directory is still walked for selected children.
	return false, isDir
}

func (rs *restorer) walk(ctx context.Context, t *data.Tree, dir *rdir, snapDir string) error {
	if len(t.Parts) > 0 { // a split directory, one part at a time (repo/data/treesplit.go)
		rs.trees.prefetch(ctx, t.Parts[0].Subtree)
		for i := range t.Parts {
			if i+1 < len(t.Parts) {
				rs.trees.prefetch(ctx, t.Parts[i+1].Subtree)
			}
			part, err := rs.trees.get(ctx, t.Parts[i].Subtree)
			if err == nil {
				err = data.CheckPart(t, i, part)
			}
			if err != nil { // the entries of a lost part are lost, not the others
				if ctx.Err() != nil {
					return ctx.Err()
				}
				rs.warn(snapDir, err)
				rs.damaged(snapDir)
				continue
			}
			if err := rs.walk(ctx, part, dir, snapDir); err != nil {
				return err
			}
		}
		return nil
	}
	rs.trees.ahead(ctx, t)
	for _, n := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := rs.entry(ctx, n, dir, path.Join(snapDir, n.FileName())); err != nil {
			return err
		}
	}
	return nil
}

// validName reports whether name can be created as one entry of a
// directory (a damaged or forged tree could hold "..", "a/b" or "").
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// entry restores node n, named n.FileName() in directory dir.
func (rs *restorer) entry(ctx context.Context, n *data.Node, dir *rdir, snapPath string) error {
	name := n.FileName()
	if !validName(name) {
		rs.warn(snapPath, fmt.Errorf("%w: invalid file name %q in the snapshot", repo.ErrCorrupt, name))
		return nil
	}
	take, descend := rs.selected(snapPath, n.Type == data.NodeDir)
	if n.Type == data.NodeDir {
		if !descend {
			return nil
		}
		d := dir.child(name)
		defer rs.release(d)
		if take {
			d.node = n
			if err := rs.ensure(ctx, d); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				rs.warn(rs.display(d.rel), err)
				return nil
			}
			rs.res.Dirs++
			rs.prog.Dirs.Add(1)
			rs.dirs = append(rs.dirs, dirMeta{d.rel, n, d})
		}
		sub, err := rs.trees.get(ctx, *n.Subtree)
		if err != nil {
			rs.warn(snapPath, err)
			rs.damaged(snapPath)
			return nil
		}
		if err := rs.walk(ctx, sub, d, snapPath); err != nil {
			return err
		}
		err = rs.deleteIn(ctx, sub, d, snapPath) // delete.go
		d.closed = true
		return err
	}
	if !take {
		return nil
	}
	rel := dir.childRel(name)
	if err := rs.ensure(ctx, dir); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rs.warn(rs.display(rel), err)
		return nil
	}
	exists := false
	if !rs.fresh {
		ph, err := rs.handle(dir)
		if err != nil {
			rs.warn(rs.display(rel), err)
			return nil
		}
		info, err := rs.root.Lstat(ph, name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			rs.warn(rs.display(rel), err)
			return nil
		}
		if exists = err == nil; exists {
			switch rs.opts.Overwrite {
			case OverwriteNever, OverwriteUnset:
				rs.res.Skipped++
				return nil
			}
			if n.Type != data.NodeFile || info.Kind != fs.KindFile || info.Size != int64(n.Size) || rs.opts.Overwrite == OverwriteAlways {
				// Removed, never followed (a symlink goes, not what it
				// points at; a directory goes with its contents).
				if err := rs.root.Remove(ph, name, info.Kind == fs.KindDir); err != nil {
					rs.warn(rs.display(rel), err)
					return nil
				}
				exists = false
			}
		}
	}
	if n.Links > 1 && n.Type != data.NodeDir {
		key := [2]uint64{n.Device, n.Inode}
		if first, ok := rs.links[key]; ok {
			if exists {
				ph, err := rs.handle(dir)
				if err == nil {
					err = rs.root.Remove(ph, name, false)
				}
				if err != nil {
					rs.warn(rs.display(rel), err)
					return nil
				}
			}
			rs.pending = append(rs.pending, [2]string{first, rel})
			dir.keepMeta()
			return nil
		}
		rs.links[key] = rel
	}
	if n.Type == data.NodeFile {
		f := &restoreFile{node: n, rel: rel, snapPath: snapPath, existing: exists,
			single: !exists && len(n.Content) == 1 && n.Links <= 1}
		rs.batch = append(rs.batch, f)
		if n.Flags&data.StoredFlags != 0 {
			rs.flagged = append(rs.flagged, f)
			dir.keepMeta()
		}
		rs.nblobs += len(n.Content)
		if rs.nblobs >= restoreBatchBlobs || len(rs.batch) >= restoreBatchFiles {
			if err := rs.flush(ctx); err != nil {
				return err
			}
			rs.applyDirs(true)
		}
		return nil
	}
	// Other types are created right here, in their directory.
	rs.mkdirBarrier()
	ph, err := rs.handle(dir)
	if err == nil {
		err = rs.root.MkSpecial(ph, name, n)
	}
	if err != nil {
		rs.warn(rs.display(rel), err)
		return nil
	}
	rs.res.Files++
	rs.prog.Files.Add(1)
	if err := rs.root.SetMetaAt(ph, name, rel, n); err != nil {
		rs.warn(rs.display(rel), err)
	}
	return nil
}

// checkSpace asks opts.SpaceCheck whether an empty target has room. The
// snapshot's summary bounds every selection of it (its files' bytes, a
// block per file and per directory): when that fits, nothing more is
// done. Otherwise the selection's own need is computed (spaceNeeded: a walk
// of the trees, 5.6 s for 150,000 files and 70,000 directories here, as
// much CPU as the restore's own walk) and asked about.
func checkSpace(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, opts RestoreOptions, target string, node *data.Node, tree *data.Tree, snapBase string) error {
	if s := sn.Summary; s != nil {
		upper := s.BytesProcessed + (s.FilesNew+s.FilesChanged+s.FilesUnmodified+s.Dirs)*needBlock
		if upper >= 0 && opts.SpaceCheck(upper) == nil {
			return nil
		}
	}
	need, err := spaceNeeded(ctx, r, opts, target, node, tree, snapBase)
	if err != nil {
		return err
	}
	return opts.SpaceCheck(need)
}

// spaceNeeded is what restoring the selection into an empty target takes
// on its file system: the dry run's walk of the snapshot's trees (no file
// data is read), every file's size rounded up to whole 4 KiB blocks and a
// block per directory. Hard links and sparse files take less: it errs on
// the side of room.
func spaceNeeded(ctx context.Context, r *repo.Repository, opts RestoreOptions, target string, node *data.Node, tree *data.Tree, snapBase string) (int64, error) {
	opts.DryRun, opts.Report, opts.Warn, opts.Progress, opts.Delete = true, nil, nil, &repo.Progress{}, false
	p := &restorer{r: r, opts: &opts, prog: opts.Progress, links: map[[2]uint64]string{}, target: target, countNeed: true,
		trees: &treePrefetcher{r: r, sem: make(chan struct{}, 4*runtime.GOMAXPROCS(0)), m: map[repo.ID]chan treeResult{}}}
	if _, err := p.plan(ctx, node, tree, snapBase); err != nil {
		return 0, err
	}
	return p.need, nil
}

// TargetStop returns the sentinel of a target error that every later
// write would meet too (ErrTargetFull, ErrTargetReadOnly), or nil: a
// restore stops at the first one.
func TargetStop(err error) error {
	switch {
	case fs.IsNoSpace(err):
		return ErrTargetFull
	case fs.IsReadOnly(err):
		return ErrTargetReadOnly
	}
	return nil
}

// stopTarget stops the restore at the first such error (TargetStop): it
// is the one error returned, not a warning per file.
func (rs *restorer) stopTarget(p string, err error) {
	rs.resMu.Lock()
	first := rs.stopped == nil
	if first {
		rs.stopped = fmt.Errorf("%w: %s: %w", TargetStop(err), p, err)
	}
	rs.resMu.Unlock()
	if first {
		rs.cancel(rs.stopErr())
	}
}

// stopErr returns the error that stopped the restore (stopTarget), or nil.
func (rs *restorer) stopErr() error {
	rs.resMu.Lock()
	defer rs.resMu.Unlock()
	return rs.stopped
}

// fileFailed marks f as not restored because the target refused it (err),
// warning once per file.
func (rs *restorer) fileFailed(f *restoreFile, err error) {
	if TargetStop(err) != nil {
		f.unwritten.Store(true)
		f.failed.Store(true)
		rs.stopTarget(rs.display(f.rel), err)
		return
	}
	if !f.failed.Swap(true) {
		f.unwritten.Store(true)
		rs.warn(rs.display(f.rel), err)
	}
}

// settleStopped, after a batch stopped by stopTarget, keeps the files of
// the batch that were written completely (their metadata set, counted as
// restored) and removes those this restore created and had not finished:
// sized with holes, they would look whole. Existing files verified and
// kept (done) are left alone.
func (rs *restorer) settleStopped(batch []*restoreFile) {
	for _, f := range batch {
		switch {
		case f.done.Load():
		case f.single:
			if !f.metaDone.Load() {
				_ = rs.root.Unlink(f.rel) // a partial or never-created file
				continue
			}
			rs.countRestored(f)
		case f.created.Load() && (f.failed.Load() || f.left.Load() > 0):
			_ = rs.root.Unlink(f.rel)
			if f.failed.Load() && !f.unwritten.Load() {
				rs.damaged(f.snapPath) // its data is damaged as well
			}
		case f.created.Load() && !f.failed.Load():
			if err := rs.root.SetMeta(f.rel, f.node); err != nil && TargetStop(err) == nil && rs.opts.Warn != nil {
				rs.opts.Warn(rs.display(f.rel), err)
			}
			rs.countRestored(f)
		}
	}
}

func (rs *restorer) countRestored(f *restoreFile) {
	rs.resMu.Lock()
	rs.res.Files++
	rs.res.Bytes += int64(f.node.Size)
	rs.resMu.Unlock()
	rs.prog.Files.Add(1)
}

func (rs *restorer) unwritten(snapPath string) {
	rs.resMu.Lock()
	rs.res.Unwritten = append(rs.res.Unwritten, snapPath)
	rs.resMu.Unlock()
}

func (rs *restorer) damaged(snapPath string) {
	rs.resMu.Lock()
	rs.res.Damaged = append(rs.res.Damaged, snapPath)
	rs.resMu.Unlock()
}

// flush restores the contents of the batched files.
func (rs *restorer) flush(ctx context.Context) error {
	rs.mkdirBarrier() // the files' directories exist
	batch := rs.batch
	rs.batch, rs.nblobs = nil, 0
	if len(batch) == 0 {
		return nil
	}
	metaStep := false
	defer func() {
		if rs.stopErr() != nil && !metaStep {
			rs.settleStopped(batch)
		}
	}()
	// 1. Existing files (resume): verify their content in parallel.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, f := range batch {
		if !f.existing {
			continue
		}
		g.Go(func() error {
			ok, err := fileMatches(gctx, rs.r, rs.root, f.rel, f.node)
			if err != nil {
				return err
			}
			f.done.Store(ok)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if stop := rs.stopErr(); stop != nil {
		return stop // the deferred settleStopped cleans up
	}
	// 2. Create/truncate files (the truncate makes holes: all-zero blobs
	// are not written, so sparse files stay sparse), in parallel; then plan
	// per pack. Single-blob files are created by the pack worker instead.
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	for _, f := range batch {
		if f.done.Load() || f.single {
			continue
		}
		g.Go(func() error {
			if f.existing {
				// Replaced, not rewritten in place: the existing file may
				// share its inode with a file outside the target.
				if err := rs.root.Unlink(f.rel); err != nil && !errors.Is(err, os.ErrNotExist) {
					rs.fileFailed(f, err)
					return gctx.Err()
				}
			}
			if err := rs.root.CreateSized(f.rel, int64(f.node.Size)); err != nil {
				rs.fileFailed(f, err)
			} else {
				f.left.Store(int64(len(f.node.Content)))
				f.created.Store(true)
			}
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if stop := rs.stopErr(); stop != nil {
		return stop // the deferred settleStopped cleans up
	}
	plan := map[repo.ID][]packNeed{}
	locator := newBatchLocator(ctx, rs.r, batch) // locate.go
	for _, f := range batch {
		if f.done.Load() {
			rs.resMu.Lock()
			rs.res.Skipped++
			rs.resMu.Unlock()
			continue
		}
		if f.failed.Load() {
			continue
		}
		locs, found, err := locator.file(f)
		if err != nil {
			return err
		}
		var off int64
		for i, id := range f.node.Content {
			h := pack.BlobHandle{ID: id, Type: pack.DataBlob}
			loc, ok := locs[i], found[i]
			if !ok {
				rs.warn(f.snapPath, fmt.Errorf("data blob %s: %w", id, repo.ErrBlobNotFound))
				f.failed.Store(true)
				break
			}
			plan[loc.Pack] = append(plan[loc.Pack], packNeed{entry: loc.Entry(h), target: blobTarget{f, off}})
			off += int64(loc.RawLength)
		}
	}
	// 3. Fetch every pack once (ranges merged), decrypt, verify, write.
	packs := make([]repo.ID, 0, len(plan))
	for id := range plan {
		packs = append(packs, id)
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].Compare(packs[j]) < 0 })
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	for _, id := range packs {
		needs := plan[id]
		g.Go(func() error { return rs.restorePack(gctx, id, needs) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if stop := rs.stopErr(); stop != nil {
		return stop // the deferred settleStopped cleans up
	}
	// 4. Metadata (in parallel; single-blob files already have theirs).
	metaStep = true
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	for _, f := range batch {
		if f.failed.Load() {
			if f.unwritten.Load() {
				rs.unwritten(f.snapPath)
			} else {
				rs.damaged(f.snapPath)
			}
			continue
		}
		if !f.done.Load() {
			rs.countRestored(f)
		}
		if f.metaDone.Load() {
			continue
		}
		g.Go(func() error {
			if err := rs.root.SetMeta(f.rel, f.node); err != nil {
				rs.warn(rs.display(f.rel), err)
			}
			return gctx.Err()
		})
	}
	return g.Wait()
}

type packNeed struct {
	entry  pack.Entry
	target blobTarget
}

func (rs *restorer) restorePack(ctx context.Context, packID repo.ID, needs []packNeed) error {
	sort.Slice(needs, func(i, j int) bool { return needs[i].entry.Offset < needs[j].entry.Offset })
	// The ranges of one pack are fetched concurrently (a few at a time;
	// the backend bounds its connections): one after another, a pack
	// whose needed blobs lie far apart cost a round trip per range
	// (issue 14). Ranges are disjoint, so their writes never overlap.
	// A long run of contiguous blobs (a large file's chunks, one after
	// another in the pack) is cut into ranges of at most maxRangeSpan, so
	// that one pack, and one large file inside it, is read, decrypted,
	// verified and written (pwrite at each chunk's offset) by several
	// goroutines at once instead of one after another.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rangesPerPack)
	for start := 0; start < len(needs); {
		first := int64(needs[start].entry.Offset)
		end := start + 1
		for end < len(needs) {
			prev, next := needs[end-1].entry, needs[end].entry
			if next.Offset != prev.Offset && // the targets of one blob stay in one range
				(int64(next.Offset) > int64(prev.Offset)+int64(prev.Length)+repo.MaxRangeGap ||
					int64(next.Offset)+int64(next.Length)-first > maxRangeSpan) {
				break
			}
			end++
		}
		part := needs[start:end]
		g.Go(func() error { return rs.restoreRange(gctx, packID, part) })
		start = end
	}
	return g.Wait()
}

// rangesPerPack bounds the range requests in flight for one pack.
const rangesPerPack = 4

// maxRangeSpan bounds the bytes one range request covers (unless a
// single blob is longer): a 16 MiB pack of one file's chunks is restored
// by at least two goroutines. Variable for the tests.
var maxRangeSpan int64 = 8 << 20

// testHookLent, when set (tests), is called for each blob restored from
// bytes the backend lent (nextByteser) instead of a copy.
var testHookLent func()

// testHookRange, when set (tests), is called when a range starts; the
// function it returns when it ends.
var testHookRange func(packID repo.ID, first, last int64) func()

func (rs *restorer) restoreRange(ctx context.Context, packID repo.ID, needs []packNeed) error {
	first := int64(needs[0].entry.Offset)
	var last int64
	for _, n := range needs {
		last = max(last, int64(n.entry.Offset)+int64(n.entry.Length))
	}
	if testHookRange != nil {
		defer testHookRange(packID, first, last)()
	}
	files := map[string]fs.OutFile{} // rel → open file
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	h := backend.Handle{Type: backend.PackFile, Name: packID.String()}
	// Each range is read once: the local backend reads it around the
	// page cache into memory it lends (nextByteser).
	ctx = backend.WithReadOnce(ctx)
	var zplain []byte // decompressed blobs (rare for media), reused
	err := rs.r.Backend().Load(ctx, h, int(last-first), first, func(rd io.Reader) error {
		pos := first
		for i := 0; i < len(needs); {
			e := needs[i].entry
			if int64(e.Offset) > pos {
				if err := skip(rd, int64(e.Offset)-pos); err != nil {
					return err
				}
				pos = int64(e.Offset)
			}
			// Read into a pooled buffer, decrypted and verified in place,
			// written from there: no copy and no fresh memory per blob.
			// A reader over bytes already in memory (the local backend's
			// direct reads) lends them instead.
			var sealed *[]byte
			var plain []byte
			var derr error
			if int64(e.Offset) == pos {
				var b []byte
				if nb, ok := rd.(nextByteser); ok {
					var err error
					if b, err = nb.NextBytes(int(e.Length)); err != nil {
						return err
					}
					if testHookLent != nil {
						testHookLent()
					}
				} else {
					sealed = getBlobBuf(int(e.Length))
					b = *sealed
					if _, err := io.ReadFull(rd, b); err != nil {
						putBlobBuf(sealed)
						return err
					}
				}
				pos += int64(e.Length)
				plain, derr = rs.r.DecodeBlobInPlace(e, packID, b, zplain)
				if derr == nil && e.Compression != pack.CompressionNone {
					zplain = plain
				}
			} else {
				// Overlaps the blob before it: an index that does not
				// match the pack.
				derr = &repo.BlobError{Handle: e.BlobHandle, Pack: packID,
					Err: fmt.Errorf("offset %d overlaps the blob before it: %w", e.Offset, repo.ErrCorrupt)}
			}
			// Every target of this same blob (duplicates inside and across files).
			j := i
			for ; j < len(needs) && needs[j].entry.Offset == e.Offset; j++ {
				t := needs[j].target
				if derr != nil {
					if !t.file.failed.Swap(true) {
						rs.warn(t.file.snapPath, derr)
					}
					continue
				}
				if t.file.failed.Load() {
					continue
				}
				if err := rs.writeAt(files, t, plain); err != nil {
					rs.fileFailed(t.file, err)
				} else {
					t.file.left.Add(-1)
				}
			}
			if sealed != nil {
				putBlobBuf(sealed)
			}
			i = j
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		// The pack (range) could not be read: every file needing it is damaged.
		for _, n := range needs {
			if !n.target.file.failed.Swap(true) {
				rs.warn(n.target.file.snapPath, fmt.Errorf("pack %s: %w", packID.Short(), err))
			}
		}
		return nil
	}
	return err
}

// skip advances rd by n bytes: a seek where rd can (a local pack's
// section), else read and dropped.
func skip(rd io.Reader, n int64) error {
	if s, ok := rd.(io.Seeker); ok {
		_, err := s.Seek(n, io.SeekCurrent)
		return err
	}
	_, err := io.CopyN(io.Discard, rd, n)
	return err
}

func growBuf(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func (rs *restorer) writeAt(files map[string]fs.OutFile, t blobTarget, data []byte) error {
	rs.prog.Bytes.Add(int64(len(data)))
	f := t.file
	if f.single {
		return rs.writeSingle(f, data)
	}
	if fs.IsZero(data) {
		return nil // a hole: the file was truncated to its size
	}
	w, ok := files[f.rel]
	if !ok {
		var err error
		if w, err = rs.root.OpenWrite(f.rel); err != nil {
			return err
		}
		files[f.rel] = w
	}
	return w.WriteAt(data, t.offset)
}

// writeSingle creates a one-blob file, writes it and sets its metadata.
func (rs *restorer) writeSingle(f *restoreFile, data []byte) error {
	if err := rs.root.WriteNew(f.rel, data, f.node); err != nil {
		return err
	}
	f.metaDone.Store(true)
	return nil
}

// fileMatches reports whether the file at rel already holds n's content.
func fileMatches(ctx context.Context, r *repo.Repository, root *fs.TargetRoot, rel string, n *data.Node) (bool, error) {
	f, nlink, err := root.OpenRead(rel)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(n.Size) || nlink > 1 {
		// A file with other hard links is rewritten (as a new file):
		// its metadata must not be set on an inode shared with a file
		// that may be outside the target.
		return false, nil
	}
	return contentMatches(ctx, r, f, n)
}

// contentMatches reports whether f (positioned at its start) holds
// exactly n's content: each chunk, cut at the lengths the index records
// for n's blobs, hashes to the blob's ID, and nothing follows. A blob the
// index does not know gives false.
func contentMatches(ctx context.Context, r *repo.Repository, f io.Reader, n *data.Node) (bool, error) {
	var buf []byte
	for _, id := range n.Content {
		loc, ok, err := r.Cache().Lookup(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob})
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
		buf = growBuf(buf, int(loc.RawLength))
		if _, err := io.ReadFull(f, buf); err != nil {
			return false, nil
		}
		if r.Key().BlobID(buf) != id {
			return false, nil
		}
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n != 0 {
		return false, nil
	}
	return true, nil
}
