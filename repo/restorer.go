package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
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
	SubPath   string  // absolute path inside the snapshot; "" or "/" = everything
	Include   *Filter // matched against snapshot paths; empty = all
	Exclude   *Filter
	Overwrite Overwrite
	// Warn receives per-file problems (damaged blobs...). May be called concurrently.
	Warn     func(path string, err error)
	Progress *Progress
	Workers  int // parallel pack fetches (0: max(GOMAXPROCS, backend connections))
}

// RestoreResult summarises a restore.
type RestoreResult struct {
	Files, Dirs, Links int64
	Bytes              int64
	Skipped            int64 // existing files left as they were
	Damaged            []string
	Errors             int64
}

type restoreFile struct {
	node     *Node
	path     string // on disk
	snapPath string // in the snapshot
	existing bool
	// single: one blob and no existing file: the pack worker that writes
	// the blob creates the file and sets its metadata in one go.
	single   bool
	done     atomic.Bool // content already correct
	failed   atomic.Bool
	metaDone atomic.Bool
}

type blobTarget struct {
	file   *restoreFile
	offset int64
}

type restorer struct {
	r       *Repository
	opts    *RestoreOptions
	prog    *Progress
	res     RestoreResult
	resMu   sync.Mutex
	batch   []*restoreFile
	nblobs  int
	fresh   bool // the target was empty or missing: nothing pre-exists
	links   map[[2]uint64]string
	pending [][2]string // hardlinks to create after contents: {existing, new}
	dirs    []dirMeta
	created map[string]bool
	trees   *treePrefetcher
	// dirs of a fresh target are created by one goroutine (mkdirs) while
	// the walk goes on: mkdir is kernel time, the walk mostly user time.
	mkdirs chan mkdirReq
}

// mkdirReq asks the mkdir goroutine to create path, or (path "") to close
// done once everything queued before it is created.
type mkdirReq struct {
	path string
	done chan struct{}
}

// mkdirWorker creates the directories queued on rs.mkdirs, in order (the
// walk queues a parent before its children).
func (rs *restorer) mkdirWorker() {
	for req := range rs.mkdirs {
		if req.done != nil {
			close(req.done)
			continue
		}
		if err := mkdir(req.path); err != nil {
			rs.warn(req.path, err)
		}
	}
}

// mkdir creates directory p. The restore walks top-down, so the parent
// normally exists: one mkdir instead of MkdirAll's stat of p, stat of the
// parent and mkdir. Anything else (p exists, a parent is missing) goes to
// MkdirAll.
func mkdir(p string) error {
	if err := unix.Mkdir(p, 0o700); err != nil {
		return os.MkdirAll(p, 0o700)
	}
	return nil
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
	r   *Repository
	sem chan struct{}
	mu  sync.Mutex
	m   map[ID]chan treeResult
}

type treeResult struct {
	t   *Tree
	err error
}

func (p *treePrefetcher) prefetch(ctx context.Context, id ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[id]; ok {
		return
	}
	select {
	case p.sem <- struct{}{}:
	default:
		return // busy: get loads it itself
	}
	ch := make(chan treeResult, 1)
	p.m[id] = ch
	go func() {
		t, err := p.r.LoadTree(ctx, id)
		<-p.sem
		ch <- treeResult{t, err}
	}()
}

func (p *treePrefetcher) get(ctx context.Context, id ID) (*Tree, error) {
	p.mu.Lock()
	ch, ok := p.m[id]
	delete(p.m, id)
	p.mu.Unlock()
	if ok {
		res := <-ch
		return res.t, res.err
	}
	return p.r.LoadTree(ctx, id)
}

type dirMeta struct {
	path string
	node *Node
}

const restoreBatchBlobs = 250_000

// Restore writes the snapshot (or its SubPath) into opts.Target.
func (r *Repository) Restore(ctx context.Context, sn *Snapshot, opts RestoreOptions) (*RestoreResult, error) {
	ctx, release, err := r.hold(ctx, lockRead, "restore") // docs/FORMAT.md §10.3
	if err != nil {
		return nil, err
	}
	defer release()
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if opts.Workers <= 0 {
		opts.Workers = max(runtime.GOMAXPROCS(0), r.be.Properties().Connections)
	}
	rs := &restorer{r: r, opts: &opts, prog: opts.Progress, links: map[[2]uint64]string{}, created: map[string]bool{},
		trees: &treePrefetcher{r: r, sem: make(chan struct{}, 4*runtime.GOMAXPROCS(0)), m: map[ID]chan treeResult{}}}
	node, tree, snapBase, err := r.resolvePath(ctx, sn, opts.SubPath)
	if err != nil {
		return nil, err
	}
	target, err := filepath.Abs(opts.Target)
	if err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(target); err == nil && len(entries) > 0 && opts.Overwrite == OverwriteUnset {
		return nil, fmt.Errorf("%s: %w", target, ErrTargetNotEmpty)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("target %s: %w", target, err)
	} else {
		rs.fresh = len(entries) == 0
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, fmt.Errorf("create target: %w", err)
	}
	rs.created[target] = true
	if rs.fresh {
		rs.mkdirs = make(chan mkdirReq, 4096)
		go rs.mkdirWorker()
		defer close(rs.mkdirs)
	}
	if tree != nil {
		err = rs.walk(ctx, tree, target, snapBase)
		if err == nil && node != nil {
			rs.dirs = append(rs.dirs, dirMeta{target, node})
		}
	} else {
		err = rs.entry(ctx, node, filepath.Join(target, node.FileName()), snapBase)
	}
	if err == nil {
		err = rs.flush(ctx)
	}
	if err != nil {
		return &rs.res, err
	}
	for _, l := range rs.pending {
		if err := os.Link(l[0], l[1]); err != nil {
			rs.warn(l[1], err)
			continue
		}
		rs.res.Links++
	}
	// Directory metadata last, deepest first, so writing files inside does
	// not disturb their mtimes.
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if err := applyMeta(d.path, d.node); err != nil {
			rs.warn(d.path, err)
		}
	}
	return &rs.res, nil
}

// resolvePath finds the node at p inside the snapshot. For a directory it
// returns its tree; for the root it returns node nil and the root tree.
func (r *Repository) resolvePath(ctx context.Context, sn *Snapshot, p string) (*Node, *Tree, string, error) {
	tree, err := r.LoadTree(ctx, sn.Tree)
	if err != nil {
		return nil, nil, "", err
	}
	p = path.Clean("/" + p)
	if p == "/" {
		return nil, tree, "/", nil
	}
	var node *Node
	comps := splitAbs(p)
	for i, c := range comps {
		node = tree.Find(c)
		if node == nil {
			return nil, nil, "", fmt.Errorf("path %s not found in snapshot %s", p, sn.ID().Short())
		}
		if node.Type != NodeDir {
			if i != len(comps)-1 {
				return nil, nil, "", fmt.Errorf("path %s: %s is not a directory", p, "/"+strings.Join(comps[:i+1], "/"))
			}
			return node, nil, p, nil
		}
		tree, err = r.LoadTree(ctx, *node.Subtree)
		if err != nil {
			return nil, nil, "", err
		}
	}
	return node, tree, p, nil
}

func (rs *restorer) warn(p string, err error) {
	rs.resMu.Lock()
	rs.res.Errors++
	rs.resMu.Unlock()
	rs.prog.Errors.Add(1)
	if rs.opts.Warn != nil {
		rs.opts.Warn(p, err)
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

func (rs *restorer) walk(ctx context.Context, t *Tree, dir, snapDir string) error {
	for _, n := range t.Nodes {
		if n.Type == NodeDir && n.Subtree != nil {
			rs.trees.prefetch(ctx, *n.Subtree)
		}
	}
	for _, n := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := rs.entry(ctx, n, filepath.Join(dir, n.FileName()), path.Join(snapDir, n.FileName())); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir creates the parents of p that do not exist yet.
func (rs *restorer) ensureDir(p string) error {
	if rs.created[p] {
		return nil
	}
	if err := mkdir(p); err != nil {
		return err
	}
	rs.created[p] = true
	return nil
}

func (rs *restorer) entry(ctx context.Context, n *Node, p, snapPath string) error {
	take, descend := rs.selected(snapPath, n.Type == NodeDir)
	if n.Type == NodeDir {
		if !descend {
			return nil
		}
		if take && rs.mkdirs != nil {
			// Fresh target: nothing can be in the way; created by the
			// mkdir goroutine (a failure is warned there, and the files
			// inside then fail to be created and are warned too).
			rs.created[p] = true
			select {
			case rs.mkdirs <- mkdirReq{path: p}:
			case <-ctx.Done():
				return ctx.Err()
			}
		} else if take {
			if err := rs.ensureDir(p); err != nil {
				rs.warn(p, err)
				return nil
			}
		}
		if take {
			rs.res.Dirs++
			rs.prog.Dirs.Add(1)
			rs.dirs = append(rs.dirs, dirMeta{p, n})
		}
		sub, err := rs.trees.get(ctx, *n.Subtree)
		if err != nil {
			rs.warn(snapPath, err)
			rs.damaged(snapPath)
			return nil
		}
		return rs.walk(ctx, sub, p, snapPath)
	}
	if !take {
		return nil
	}
	if err := rs.ensureDir(filepath.Dir(p)); err != nil {
		rs.warn(p, err)
		return nil
	}
	var fi os.FileInfo
	var lerr error = os.ErrNotExist
	if !rs.fresh {
		fi, lerr = os.Lstat(p)
	}
	exists := lerr == nil
	if exists {
		switch rs.opts.Overwrite {
		case OverwriteNever, OverwriteUnset:
			rs.res.Skipped++
			return nil
		}
		if n.Type != NodeFile || !fi.Mode().IsRegular() || fi.Size() != int64(n.Size) || rs.opts.Overwrite == OverwriteAlways {
			if fi.IsDir() {
				if err := os.RemoveAll(p); err != nil {
					rs.warn(p, err)
					return nil
				}
			} else if err := os.Remove(p); err != nil {
				rs.warn(p, err)
				return nil
			}
			exists = false
		}
	}
	if n.Links > 1 && n.Type != NodeDir {
		key := [2]uint64{n.Device, n.Inode}
		if first, ok := rs.links[key]; ok {
			if exists {
				os.Remove(p)
			}
			rs.pending = append(rs.pending, [2]string{first, p})
			return nil
		}
		rs.links[key] = p
	}
	if n.Type == NodeFile {
		rs.batch = append(rs.batch, &restoreFile{node: n, path: p, snapPath: snapPath, existing: exists,
			single: !exists && len(n.Content) == 1 && n.Links <= 1})
		rs.nblobs += len(n.Content)
		if rs.nblobs >= restoreBatchBlobs {
			return rs.flush(ctx)
		}
		return nil
	}
	// Other types are created right here, in their directory.
	rs.mkdirBarrier()
	switch n.Type {
	case NodeSymlink:
		if err := os.Symlink(n.Target(), p); err != nil {
			rs.warn(p, err)
			return nil
		}
	case NodeFifo:
		if err := unix.Mkfifo(p, unixPerm(n)); err != nil {
			rs.warn(p, err)
			return nil
		}
	case NodeDev, NodeCharDev, NodeSocket:
		mode := uint32(unix.S_IFBLK)
		if n.Type == NodeCharDev {
			mode = unix.S_IFCHR
		} else if n.Type == NodeSocket {
			mode = unix.S_IFSOCK
		}
		if err := unix.Mknod(p, mode|unixPerm(n), int(n.Rdev)); err != nil {
			rs.warn(p, err)
			return nil
		}
	}
	rs.res.Files++
	rs.prog.Files.Add(1)
	if err := applyMeta(p, n); err != nil {
		rs.warn(p, err)
	}
	return nil
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
	// 1. Existing files (resume): verify their content in parallel.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, f := range batch {
		if !f.existing {
			continue
		}
		g.Go(func() error {
			ok, err := rs.r.fileMatches(gctx, f.path, f.node)
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
			if err := createSized(f.path, int64(f.node.Size)); err != nil {
				rs.warn(f.path, err)
				f.failed.Store(true)
			}
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	plan := map[ID][]packNeed{}
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
		var off int64
		for _, id := range f.node.Content {
			h := pack.BlobHandle{ID: id, Type: pack.DataBlob}
			loc, ok, err := rs.r.cache.Lookup(ctx, h)
			if err != nil {
				return err
			}
			if !ok {
				rs.warn(f.snapPath, fmt.Errorf("data blob %s: %w", id, ErrBlobNotFound))
				f.failed.Store(true)
				break
			}
			plan[loc.Pack] = append(plan[loc.Pack], packNeed{entry: loc.Entry(h), target: blobTarget{f, off}})
			off += int64(loc.RawLength)
		}
	}
	// 3. Fetch every pack once (ranges merged), decrypt, verify, write.
	packs := make([]ID, 0, len(plan))
	for id := range plan {
		packs = append(packs, id)
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].String() < packs[j].String() })
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(rs.opts.Workers)
	for _, id := range packs {
		needs := plan[id]
		g.Go(func() error { return rs.restorePack(gctx, id, needs) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// 4. Metadata (in parallel; single-blob files already have theirs).
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	for _, f := range batch {
		if f.failed.Load() {
			rs.damaged(f.snapPath)
			continue
		}
		if !f.done.Load() {
			rs.resMu.Lock()
			rs.res.Files++
			rs.res.Bytes += int64(f.node.Size)
			rs.resMu.Unlock()
			rs.prog.Files.Add(1)
		}
		if f.metaDone.Load() {
			continue
		}
		g.Go(func() error {
			if err := applyMeta(f.path, f.node); err != nil {
				rs.warn(f.path, err)
			}
			return gctx.Err()
		})
	}
	return g.Wait()
}

// createSized creates (or truncates) p with the given size, leaving holes.
func createSized(p string, size int64) error {
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return &pathError{"create", p, err}
	}
	if size > 0 {
		err = unix.Ftruncate(fd, size)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &pathError{"truncate", p, err}
	}
	return nil
}

type packNeed struct {
	entry  pack.Entry
	target blobTarget
}

// maxRangeGap: needed blobs closer than this are fetched in one range.
const maxRangeGap = 1 << 20

func (rs *restorer) restorePack(ctx context.Context, packID ID, needs []packNeed) error {
	sort.Slice(needs, func(i, j int) bool { return needs[i].entry.Offset < needs[j].entry.Offset })
	for start := 0; start < len(needs); {
		end := start + 1
		for end < len(needs) && int64(needs[end].entry.Offset) <= int64(needs[end-1].entry.Offset)+int64(needs[end-1].entry.Length)+maxRangeGap {
			end++
		}
		if err := rs.restoreRange(ctx, packID, needs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (rs *restorer) restoreRange(ctx context.Context, packID ID, needs []packNeed) error {
	first := int64(needs[0].entry.Offset)
	var last int64
	for _, n := range needs {
		last = max(last, int64(n.entry.Offset)+int64(n.entry.Length))
	}
	files := map[string]int{} // path → open fd
	defer func() {
		for _, fd := range files {
			unix.Close(fd)
		}
	}()
	h := backend.Handle{Type: backend.PackFile, Name: packID.String()}
	var plain []byte
	err := rs.r.be.Load(ctx, h, int(last-first), first, func(rd io.Reader) error {
		pos := first
		var sealed []byte
		for i := 0; i < len(needs); {
			e := needs[i].entry
			if int64(e.Offset) > pos {
				if _, err := io.CopyN(io.Discard, rd, int64(e.Offset)-pos); err != nil {
					return err
				}
				pos = int64(e.Offset)
			}
			sealed = growBuf(sealed, int(e.Length))
			if int64(e.Offset) == pos {
				if _, err := io.ReadFull(rd, sealed); err != nil {
					return err
				}
				pos += int64(e.Length)
			}
			var derr error
			plain, derr = rs.r.decodeBlob(e, packID, sealed, plain)
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
					t.file.failed.Store(true)
					rs.warn(t.file.path, err)
				}
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

func growBuf(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func (rs *restorer) writeAt(files map[string]int, t blobTarget, data []byte) error {
	rs.prog.Bytes.Add(int64(len(data)))
	f := t.file
	if f.single {
		return rs.writeSingle(f, data)
	}
	if isZero(data) {
		return nil // a hole: the file was truncated to its size
	}
	fd, ok := files[f.path]
	if !ok {
		var err error
		fd, err = unix.Open(f.path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			return &pathError{"open", f.path, err}
		}
		files[f.path] = fd
	}
	return pwriteAll(fd, data, t.offset)
}

// writeSingle creates a one-blob file, writes it and sets its metadata.
func (rs *restorer) writeSingle(f *restoreFile, data []byte) error {
	fd, err := unix.Open(f.path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return &pathError{"create", f.path, err}
	}
	if isZero(data) {
		err = unix.Ftruncate(fd, int64(len(data)))
	} else {
		err = pwriteAll(fd, data, 0)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &pathError{"write", f.path, err}
	}
	if err := applyMeta(f.path, f.node); err != nil {
		return err
	}
	f.metaDone.Store(true)
	return nil
}

func pwriteAll(fd int, data []byte, off int64) error {
	for len(data) > 0 {
		n, err := unix.Pwrite(fd, data, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

// fileMatches reports whether the file at p already holds n's content.
func (r *Repository) fileMatches(ctx context.Context, p string, n *Node) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(n.Size) {
		return false, nil
	}
	var buf []byte
	for _, id := range n.Content {
		loc, ok, err := r.cache.Lookup(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob})
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
		if r.key.BlobID(buf) != id {
			return false, nil
		}
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n != 0 {
		return false, nil
	}
	return true, nil
}

// applyMeta sets ownership (when permitted), mode and times of p.
func applyMeta(p string, n *Node) error {
	if err := os.Lchown(p, int(n.UID), int(n.GID)); err != nil && !errors.Is(err, os.ErrPermission) {
		return err
	}
	if n.Type != NodeSymlink {
		if err := os.Chmod(p, n.FileMode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			return err
		}
	}
	mt := n.ModTime
	ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// unixPerm converts the node's Go mode bits to unix permission bits.
func unixPerm(n *Node) uint32 {
	m := n.FileMode()
	p := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		p |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		p |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		p |= unix.S_ISVTX
	}
	return p
}
