package archiver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Stream is a virtual file whose content comes from a reader (stdin, a
// database dump). Streams are stored before any file is read.
type Stream struct {
	// Path of the file inside the snapshot, absolute ("/immich/db.sql").
	Path string
	// Reader supplies the content.
	Reader io.Reader
	// Profile names the chunker profile ("" = ProfileSmall: dumps change in
	// place and dedup better with small chunks).
	Profile string
	// Done is called after Reader hit EOF; an error fails the backup before
	// any snapshot is written (e.g. the dump command exited non-zero).
	Done func() error
	// Mode of the virtual file (0 = 0600).
	Mode os.FileMode
}

// BackupOptions describe one backup.
type BackupOptions struct {
	Paths         []string // absolute or relative paths to back up
	Streams       []Stream
	Tags          []string
	Host          string
	Exclude       *data.Filter
	ExcludeCaches bool
	OneFileSystem bool
	Parent        *repo.Snapshot // previous snapshot for change detection; may be nil
	Metadata      map[string]json.RawMessage
	Time          time.Time // zero: now
	// Warn receives non-fatal problems (unreadable files...). It may be
	// called from several goroutines at once.
	Warn func(path string, err error)
	// Progress, if non-nil, is updated while the backup runs (its totals
	// by the walk ahead, prewalk.go).
	Progress *repo.Progress
	// FileWorkers read files concurrently (0: max(8, 2×GOMAXPROCS): reading
	// many small files from a cold disk needs queue depth more than CPU).
	FileWorkers int
	// BlobWorkers hash, compress and encrypt (0: GOMAXPROCS).
	BlobWorkers int
	// ForceRead reads every file, ignoring the parent and the file cache.
	ForceRead bool
	// ProgramVersion is recorded in the snapshot.
	ProgramVersion string
	// DryRun walks, reads and chunks as a backup would and stores nothing
	// (dryrun.go): no pack, index, snapshot or file-cache entry; only a
	// reader lock. The returned snapshot is not saved and has no ID; its
	// Summary says what a backup would add.
	DryRun bool
	// SpaceGate, when set (ignored with DryRun), is asked whether the
	// backup may write to the repository, with the bytes of the regular
	// files its walk ahead found (exclusions applied; streams not
	// counted) modified at or after SpaceSince (all of them when
	// SpaceSince is zero). Nothing is written to the repository before it
	// returned nil; its error fails the backup and is returned as is. The
	// walk ahead then runs to its end even when the backup's walk ends
	// first (spacegate.go).
	SpaceGate  func(changed int64) error
	SpaceSince time.Time
}

// SourceError is a problem with the backup source (not the repository).
type SourceError struct {
	Path string
	Err  error
}

func (e *SourceError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

type nodeResult struct {
	node *data.Node // nil: skipped
	err  error      // fatal (repository) error
}

type future chan nodeResult

func done(n *data.Node, err error) future {
	f := make(future, 1)
	f <- nodeResult{n, err}
	return f
}

type fileJob struct {
	path   string
	node   *data.Node
	parent *data.Node
	out    future
}

type blobJob struct {
	data []byte
	buf  *[]byte
	dst  *repo.ID
	wg   *sync.WaitGroup
	errp *firstErr
}

type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstErr) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

type archiver struct {
	r     *repo.Repository
	up    *repo.Uploader
	opts  *BackupOptions
	prog  *repo.Progress
	files chan fileJob
	blobs chan blobJob
	sum   struct {
		filesNew, filesChanged, filesUnmodified, dirs, errors, bytesRead, bytesProcessed atomic.Int64
		// streams and streamBytes are the part of filesNew and
		// bytesProcessed that came from streams (stdin, a database dump).
		streams, streamBytes atomic.Int64
	}
	names nameCache
	// fileCache batches new file-cache entries; noFileCache is set when the
	// cache holds no entry at all (first backup on this host), so lookups
	// that can only miss are skipped.
	fileCache   *index.MetaWriter
	noFileCache bool
	// largeSem bounds the file workers reading files of more than one
	// chunk (dataMin: the data chunker's minimum), whose buffers take
	// megabytes (smallbuf.go).
	largeSem chan struct{}
	dataMin  int
	// dirSem bounds the directories walked concurrently; when it is full a
	// directory is walked inline by its parent's goroutine (no deadlock).
	dirSem chan struct{}
	// gate holds the writes for SpaceGate (nil: none).
	gate *spaceGate
	// walkers counts the goroutines the walk starts (directories walked
	// concurrently, trees collected): they send file jobs and save trees,
	// so the channels are closed only after every one of them returned,
	// also when the walk itself returned early on an error or a signal.
	walkers sync.WaitGroup
}

// Backup stores the given paths and streams as a new snapshot. It returns
// the snapshot (also when it is partial: check Snapshot.Partial).
func Backup(ctx context.Context, r *repo.Repository, opts BackupOptions) (*repo.Snapshot, error) {
	ctx, release, err := holdForBackup(ctx, r, &opts) // docs/FORMAT.md §10
	if err != nil {
		return nil, err
	}
	defer release()
	start := time.Now()
	if opts.Time.IsZero() {
		opts.Time = start
	}
	if opts.Progress == nil {
		opts.Progress = &repo.Progress{}
	}
	if opts.Host == "" {
		opts.Host, _ = os.Hostname()
	}
	if opts.BlobWorkers <= 0 {
		opts.BlobWorkers = runtime.GOMAXPROCS(0)
	}
	if opts.FileWorkers <= 0 {
		opts.FileWorkers = max(8, 2*runtime.GOMAXPROCS(0))
	}
	root, paths, err := buildPathTrie(opts.Paths, opts.Streams)
	if err != nil {
		return nil, err
	}
	a := &archiver{r: r, opts: &opts, prog: opts.Progress, dirSem: make(chan struct{}, 2*opts.BlobWorkers), gate: newSpaceGate(&opts)}
	a.largeSem = make(chan struct{}, max(8, 2*runtime.GOMAXPROCS(0)))
	if c, prof, err := r.ChunkerFor(repo.ProfileData); err == nil {
		a.dataMin = c.Params().Min
		r.PutChunker(prof, c)
	}
	if has, err := r.Cache().HasMetaPrefix([]byte(fileCachePrefix)); err == nil && !has {
		a.noFileCache = true
	}
	a.fileCache = r.Cache().NewMetaWriter()
	defer a.fileCache.Cancel()
	var rootID repo.ID
	err = withUploader(r, &opts)(ctx, func(ctx context.Context, up *repo.Uploader) error {
		a.up = up
		if a.gate != nil {
			up.HoldWrites(a.gate.wait)
		}
		g, ctx := errgroup.WithContext(ctx)
		a.blobs = make(chan blobJob, opts.BlobWorkers)
		a.files = make(chan fileJob)
		for range opts.BlobWorkers {
			g.Go(func() error { return a.blobWorker(ctx) })
		}
		var fileWG sync.WaitGroup
		for range opts.FileWorkers {
			fileWG.Add(1)
			g.Go(func() error { defer fileWG.Done(); return a.fileWorker(ctx) })
		}
		g.Go(func() (werr error) {
			// A walk that returns early (an error, a signal) leaves
			// directory goroutines behind: wctx stops them, and the
			// channels they send on are closed only once they are gone.
			wctx, wcancel := context.WithCancel(ctx)
			// The walk ahead stops with the walk, unless the space
			// gate waits for its count: then it runs to its end, but
			// stops on a failure of the walk (pcancel) or a signal.
			pctx, pcancel := wctx, context.CancelFunc(func() {})
			if a.gate != nil {
				pctx, pcancel = context.WithCancel(ctx)
			}
			defer func() {
				if werr != nil {
					pcancel()
				}
				wcancel()
				a.walkers.Wait()
				pcancel()
				close(a.files)
				fileWG.Wait()
				close(a.blobs)
			}()
			ctx := wctx
			a.walkers.Add(1)
			go func() {
				defer a.walkers.Done()
				if testHookPrewalk != nil {
					testHookPrewalk()
				}
				if !skipPrewalk || a.gate != nil {
					a.prewalk(pctx, targetPaths(paths, opts.Streams), nil)
				}
			}()
			// Streams first (the database before the files it describes).
			for i := range opts.Streams {
				if err := a.saveStream(ctx, &opts.Streams[i], root); err != nil {
					return err
				}
			}
			var parentRoot *data.Tree
			if opts.Parent != nil {
				if t, err := r.LoadTree(ctx, opts.Parent.Tree); err == nil {
					parentRoot = t
				} else {
					a.warn("parent snapshot", err)
				}
			}
			tree, err := a.saveTrie(ctx, root, "/", parentRoot)
			if err != nil {
				return err
			}
			id, err := up.SaveTree(ctx, tree)
			rootID = id
			return err
		})
		return g.Wait()
	})
	// The gate's refusal is the cause when the held writes failed with
	// it, or when nothing failed (a backup that stored no new blob never
	// waited for the gate: the walk ahead had finished, so it answered);
	// any other error is the backup's own.
	if gerr := a.gate.refusal(); gerr != nil && (err == nil || errors.Is(err, gerr)) {
		return nil, gerr
	}
	if err != nil {
		return nil, err
	}
	if !a.prog.TotalKnown.Load() {
		// The walk ahead was cut short by the end of the walk itself:
		// everything there was is what was done, counted as the walk
		// ahead counts (regular files from disk; Progress.Files also
		// counts symlinks, devices and streams).
		files, bytes := a.diskFiles()
		a.prog.TotalFiles.Store(files)
		a.prog.TotalBytes.Store(bytes)
		a.prog.TotalKnown.Store(true)
	}
	// The file cache only speeds up later runs: a failure is not fatal.
	// A dry run stored no content for the cache to point at.
	if !opts.DryRun {
		if err := a.fileCache.Flush(); err != nil && opts.Warn != nil {
			opts.Warn("file cache", err)
		}
	}
	sn := &repo.Snapshot{
		Time:           opts.Time,
		Host:           opts.Host,
		Tags:           opts.Tags,
		Paths:          paths,
		Tree:           rootID,
		UID:            uint32(os.Getuid()),
		GID:            uint32(os.Getgid()),
		Metadata:       opts.Metadata,
		ProgramVersion: opts.ProgramVersion,
	}
	if u, err := user.Current(); err == nil {
		sn.Username = u.Username
	}
	if opts.Parent != nil {
		pid := opts.Parent.ID()
		sn.Parent = &pid
	}
	sn.Partial = a.sum.errors.Load() > 0
	sn.Summary = &repo.Summary{
		Start:           start,
		End:             time.Now(),
		FilesNew:        a.sum.filesNew.Load(),
		FilesChanged:    a.sum.filesChanged.Load(),
		FilesUnmodified: a.sum.filesUnmodified.Load(),
		Dirs:            a.sum.dirs.Load(),
		Errors:          a.sum.errors.Load(),
		BytesProcessed:  a.sum.bytesProcessed.Load(),
		BytesRead:       a.sum.bytesRead.Load(),
		DataBlobs:       a.up.Stats.Blobs.Load(),
		TreeBlobs:       a.up.Stats.TreeBlobs.Load(),
		DataAdded:       a.up.Stats.RawBytes.Load(),
		DataAddedPacked: a.up.Stats.StoredBytes.Load(),
	}
	if opts.DryRun {
		return sn, nil
	}
	if _, err := r.SaveSnapshot(ctx, sn); err != nil {
		return nil, err
	}
	return sn, nil
}

func (a *archiver) warn(path string, err error) {
	a.sum.errors.Add(1)
	a.prog.Errors.Add(1)
	if a.opts.Warn != nil {
		a.opts.Warn(path, err)
	}
}

// pathTrie holds the backup targets and streams by path component.
type pathTrie struct {
	children map[string]*pathTrie
	target   bool       // back up this path recursively from disk
	stream   *data.Node // a stored stream (set by saveStream)
	isStream bool
}

func (t *pathTrie) child(name string) *pathTrie {
	if t.children == nil {
		t.children = map[string]*pathTrie{}
	}
	c := t.children[name]
	if c == nil {
		c = &pathTrie{}
		t.children[name] = c
	}
	return c
}

func splitAbs(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func buildPathTrie(paths []string, streams []Stream) (*pathTrie, []string, error) {
	root := &pathTrie{}
	var out []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, fmt.Errorf("path %s: %w", p, err)
		}
		abs = filepath.Clean(abs)
		t := root
		for _, c := range splitAbs(abs) {
			t = t.child(c)
		}
		t.target = true
		out = append(out, abs)
	}
	for _, s := range streams {
		if !strings.HasPrefix(s.Path, "/") || filepath.Clean(s.Path) != s.Path || s.Path == "/" {
			return nil, nil, fmt.Errorf("stream path %q must be absolute and clean", s.Path)
		}
		t := root
		for _, c := range splitAbs(s.Path) {
			if t.target {
				return nil, nil, fmt.Errorf("stream path %q lies inside backup path", s.Path)
			}
			t = t.child(c)
		}
		if t.target || t.isStream || len(t.children) > 0 {
			return nil, nil, fmt.Errorf("stream path %q collides with another path", s.Path)
		}
		t.isStream = true
		out = append(out, s.Path)
	}
	if len(out) == 0 {
		return nil, nil, errors.New("nothing to back up: no paths and no streams")
	}
	sort.Strings(out)
	return root, out, nil
}

func (a *archiver) saveStream(ctx context.Context, s *Stream, root *pathTrie) error {
	t := root
	for _, c := range splitAbs(s.Path) {
		t = t.child(c)
	}
	profile := s.Profile
	if profile == "" {
		profile = repo.ProfileSmall
	}
	mode := s.Mode
	if mode == 0 {
		mode = 0o600
	}
	now := a.opts.Time.UTC()
	n := &data.Node{Type: data.NodeFile, Mode: uint32(mode.Perm()), UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), ModTime: now, ChangeTime: now}
	n.SetName(filepath.Base(s.Path))
	ids, size, err := a.chunkStream(ctx, s.Reader, profile, s.Path, -1)
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.Path, err)
	}
	if s.Done != nil {
		if err := s.Done(); err != nil {
			return fmt.Errorf("stream %s: %w", s.Path, err)
		}
	}
	n.Content, n.Size = ids, uint64(size)
	a.sum.filesNew.Add(1)
	a.sum.bytesProcessed.Add(size)
	a.sum.streams.Add(1)
	a.sum.streamBytes.Add(size)
	a.prog.Files.Add(1)
	t.stream = n
	return nil
}

// skipPrewalk leaves the walk ahead out, as when the backup's walk ends
// before it (set by tests only).
var skipPrewalk bool

// testHookPrewalk, when set (tests), is called before the walk ahead
// starts (to hold it back until the backup's walk has ended).
var testHookPrewalk func()

// diskFiles returns the regular files read from disk (new, changed or
// unmodified: streams left out) and their bytes.
func (a *archiver) diskFiles() (files, bytes int64) {
	files = a.sum.filesNew.Load() + a.sum.filesChanged.Load() + a.sum.filesUnmodified.Load() - a.sum.streams.Load()
	bytes = a.sum.bytesProcessed.Load() - a.sum.streamBytes.Load()
	return files, bytes
}

// Buffer pools. Read buffers are small (the chunker copies chunks out of
// them); chunk buffers start at twice the average chunk and grow to the
// chunk's size when needed, so memory follows the data, not Max. A file
// smaller than the chunker's minimum is one chunk: its buffers come from
// smallbuf.go's size classes instead.
var (
	readPool  = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}
	chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, 2<<20); return &b }}
)

// chunkStream splits rd into chunks and saves them through the blob workers.
// size is what rd is expected to hold (-1: unknown), a hint for the buffers
// only. Read errors are returned as *SourceError; repository errors as
// they are.
func (a *archiver) chunkStream(ctx context.Context, rd io.Reader, profile, path string, size int64) ([]repo.ID, int64, error) {
	c, profile, err := a.r.ChunkerFor(profile)
	if err != nil {
		return nil, 0, err
	}
	defer a.r.PutChunker(profile, c)
	small := isSmall(size, c.Params().Min)
	var rbuf *[]byte
	if small {
		rbuf = getSmallBuf(smallReadBuf)
		*rbuf = (*rbuf)[:cap(*rbuf)]
		defer putChunkBuf(rbuf)
	} else {
		rbuf = readPool.Get().(*[]byte)
		defer readPool.Put(rbuf)
	}
	cr := chunker.NewReader(rd, c, *rbuf)

	var (
		wg    sync.WaitGroup
		ferr  firstErr
		ids   []*repo.ID
		total int64
	)
	for {
		var buf *[]byte
		switch {
		case small && len(ids) == 0:
			// One more byte than expected: the read that fills the
			// file stops short of the buffer, so no second read asks
			// for the end of the file (fs.RawFile.ExpectSize).
			buf = getSmallBuf(int(size) + 1)
		case small:
			// Only finds the end (or, should the file have grown,
			// grows by append as a chunk buffer does).
			buf = getSmallBuf(smallReadBuf)
		default:
			buf = chunkPool.Get().(*[]byte)
		}
		chunk, err := cr.Next((*buf)[:0])
		if err == io.EOF {
			putChunkBuf(buf)
			break
		}
		if err != nil {
			putChunkBuf(buf)
			wg.Wait()
			return nil, total, &SourceError{Path: path, Err: err}
		}
		total += int64(len(chunk))
		a.sum.bytesRead.Add(int64(len(chunk)))
		a.prog.Read.Add(int64(len(chunk)))
		a.prog.Bytes.Add(int64(len(chunk)))
		dst := new(repo.ID)
		ids = append(ids, dst)
		wg.Add(1)
		select {
		case a.blobs <- blobJob{data: chunk, buf: buf, dst: dst, wg: &wg, errp: &ferr}:
		case <-ctx.Done():
			wg.Done()
			wg.Wait()
			return nil, total, ctx.Err()
		}
		if err := ferr.get(); err != nil {
			break
		}
	}
	wg.Wait()
	if err := ferr.get(); err != nil {
		return nil, total, err
	}
	out := make([]repo.ID, len(ids))
	for i, p := range ids {
		out[i] = *p
	}
	return out, total, nil
}

func (a *archiver) blobWorker(ctx context.Context) error {
	for j := range a.blobs {
		if j.errp.get() == nil {
			id := a.r.Key().BlobID(j.data)
			*j.dst = id
			if _, err := a.up.SaveBlobWithID(ctx, pack.DataBlob, id, j.data); err != nil {
				j.errp.set(err)
			}
		}
		*j.buf = j.data[:0]
		putChunkBuf(j.buf)
		j.wg.Done()
	}
	return nil
}

// saveTrie builds the tree for a trie level whose on-disk path is dir.
func (a *archiver) saveTrie(ctx context.Context, t *pathTrie, dir string, parent *data.Tree) (*data.Tree, error) {
	names := make([]string, 0, len(t.children))
	for n := range t.children {
		names = append(names, n)
	}
	sort.Strings(names)
	futs := make([]future, 0, len(names))
	for _, name := range names {
		c := t.children[name]
		p := filepath.Join(dir, name)
		var pn *data.Node
		if parent != nil {
			pn = parent.Find(name)
		}
		switch {
		case c.isStream:
			futs = append(futs, done(c.stream, nil))
		case c.target:
			fi, err := os.Lstat(p)
			if err != nil {
				a.warn(p, err)
				continue
			}
			futs = append(futs, a.saveEntry(ctx, p, fi, pn, 0))
		default:
			// An intermediate directory: metadata from disk when it exists.
			n := a.virtualDir(p, name)
			var sub *data.Tree
			if pn != nil && pn.Type == data.NodeDir && pn.Subtree != nil {
				sub, _ = a.r.LoadTree(ctx, *pn.Subtree)
			}
			tree, err := a.saveTrie(ctx, c, p, sub)
			if err != nil {
				return nil, err
			}
			id, err := a.up.SaveTree(ctx, tree)
			if err != nil {
				return nil, err
			}
			n.Subtree = &id
			futs = append(futs, done(n, nil))
		}
	}
	return a.collect(ctx, futs)
}

func (a *archiver) virtualDir(p, name string) *data.Node {
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return a.nodeFromInfo(name, p, fi)
	}
	now := a.opts.Time.UTC()
	n := &data.Node{Type: data.NodeDir, Mode: 0o755, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), ModTime: now, ChangeTime: now}
	n.SetName(name)
	return n
}

func (a *archiver) collect(ctx context.Context, futs []future) (*data.Tree, error) {
	tree := &data.Tree{Nodes: make([]*data.Node, 0, len(futs))}
	for _, f := range futs {
		select {
		case res := <-f:
			if res.err != nil {
				return nil, res.err
			}
			if res.node != nil {
				tree.Nodes = append(tree.Nodes, res.node)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return tree, nil
}

// saveEntry returns a future for the node of path p (already lstat'ed).
func (a *archiver) saveEntry(ctx context.Context, p string, fi os.FileInfo, parent *data.Node, rootDev uint64) future {
	n := a.nodeFromInfo(filepath.Base(p), p, fi)
	switch n.Type {
	case data.NodeFile:
		f := make(future, 1)
		select {
		case a.files <- fileJob{path: p, node: n, parent: parent, out: f}:
			return f
		case <-ctx.Done():
			return done(nil, ctx.Err())
		}
	case data.NodeDir:
		select {
		case a.dirSem <- struct{}{}:
			out := make(future, 1)
			a.walkers.Add(1)
			go func() {
				defer a.walkers.Done()
				// The slot covers walking the directory (submitting its
				// entries), not waiting for its tree to complete.
				f := a.saveDir(ctx, p, n, parent, rootDev)
				<-a.dirSem
				out <- <-f
			}()
			return out
		default:
			return a.saveDir(ctx, p, n, parent, rootDev)
		}
	case data.NodeSymlink:
		target, err := fs.ReadlinkLong(p)
		if err != nil {
			a.warn(p, err)
			return done(nil, nil)
		}
		n.SetTarget(target)
	}
	a.extMeta(n, -1, p)
	a.prog.Files.Add(1)
	return done(n, nil)
}

const cacheDirTagSignature = "Signature: 8a477f597d28d172789f06886806bc55"

func isCacheDir(dir string) bool {
	// Only a regular file is a tag (fs.OpenRegular): opening a FIFO of
	// that name for reading would wait for a writer forever, stopping the
	// backup's walk, the walk ahead and, with a space gate, every write.
	f, err := fs.OpenRegular(filepath.Join(dir, "CACHEDIR.TAG"))
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, len(cacheDirTagSignature))
	if _, err := io.ReadFull(f, buf); err != nil {
		return false
	}
	return string(buf) == cacheDirTagSignature
}

func (a *archiver) saveDir(ctx context.Context, p string, n *data.Node, parent *data.Node, rootDev uint64) future {
	a.sum.dirs.Add(1)
	a.prog.Dirs.Add(1)
	if rootDev == 0 {
		rootDev = n.Device
	}
	var parentTree *data.Tree
	if parent != nil && parent.Type == data.NodeDir && parent.Subtree != nil {
		parentTree, _ = a.r.LoadTreeBlob(ctx, *parent.Subtree) // as stored: split parts load one at a time
	}
	prevNodes := data.NewTreeCursor(ctx, a.r.LoadTreeBlob, parentTree)
	var names []string
	d, err := fs.OpenDir(p)
	if err == nil {
		defer d.Close()
		a.extMeta(n, d.FD, p)
		names, err = d.Names()
	}
	if err != nil {
		a.warn(p, err)
	}
	if a.opts.OneFileSystem && n.Device != rootDev {
		names = nil // a mount point: keep the directory, not its contents
	}
	// The collector is started once the entries are known, so that its
	// window is no wider than the directory (treesplit_backup.go).
	futs, out := a.collectDir(ctx, p, n, parent, parentTree, len(names))
	defer close(futs)
	for _, name := range names {
		cp := filepath.Join(p, name)
		if a.opts.Exclude.Match(cp) {
			continue
		}
		fi, err := d.Lstat(name, cp)
		if err != nil {
			a.warn(cp, err)
			continue
		}
		if fi.IsDir() && a.opts.ExcludeCaches && isCacheDir(cp) {
			continue
		}
		select {
		case futs <- a.saveEntry(ctx, cp, fi, prevNodes.Find(name), rootDev):
		case <-ctx.Done():
			return out
		}
	}
	return out
}

// sameNodes reports whether two sorted node lists would encode identically.
func sameNodes(a, b []*data.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameNode(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameNode(a, b *data.Node) bool {
	if a.Name != b.Name || a.Type != b.Type || a.Mode != b.Mode || a.UID != b.UID || a.GID != b.GID ||
		a.User != b.User || a.Group != b.Group || !a.ModTime.Equal(b.ModTime) || !a.ChangeTime.Equal(b.ChangeTime) ||
		a.ModTime.Location().String() != b.ModTime.Location().String() ||
		a.Size != b.Size || a.Inode != b.Inode || a.Device != b.Device || a.Links != b.Links || a.Rdev != b.Rdev ||
		a.LinkTarget != b.LinkTarget || string(a.NameRaw) != string(b.NameRaw) || string(a.LinkTargetRaw) != string(b.LinkTargetRaw) ||
		(a.NameRaw == nil) != (b.NameRaw == nil) || (a.LinkTargetRaw == nil) != (b.LinkTargetRaw == nil) ||
		len(a.Content) != len(b.Content) || (a.Subtree == nil) != (b.Subtree == nil) {
		return false
	}
	if (a.Subtree != nil && *a.Subtree != *b.Subtree) || !data.SameExt(a, b) {
		return false
	}
	for i := range a.Content {
		if a.Content[i] != b.Content[i] {
			return false
		}
	}
	return true
}

func (a *archiver) fileWorker(ctx context.Context) error {
	for j := range a.files {
		n, err := a.saveFile(ctx, j)
		var se *SourceError
		if errors.As(err, &se) {
			a.warn(se.Path, se.Err)
			n, err = nil, nil
		}
		j.out <- nodeResult{n, err}
		if err != nil {
			return err
		}
	}
	return nil
}

// fileCacheKey identifies a file's content independent of its path, so
// moved files are recognised: device, inode, size and mtime (ctime changes
// on rename and is therefore checked only for files at an unchanged path).
const fileCachePrefix = "fc1"

func fileCacheKey(n *data.Node) []byte {
	k := make([]byte, 0, 3+32)
	k = append(k, fileCachePrefix...)
	k = binary.LittleEndian.AppendUint64(k, n.Device)
	k = binary.LittleEndian.AppendUint64(k, n.Inode)
	k = binary.LittleEndian.AppendUint64(k, n.Size)
	k = binary.LittleEndian.AppendUint64(k, uint64(n.ModTime.UnixNano()))
	return k
}

func (a *archiver) contentPresent(ctx context.Context, ids []repo.ID) bool {
	hs := make([]pack.BlobHandle, len(ids))
	for i, id := range ids {
		hs[i] = pack.BlobHandle{ID: id, Type: pack.DataBlob}
	}
	ok, err := a.r.Cache().HasAll(ctx, hs) // one read transaction, keys in order
	return err == nil && ok
}

// unchanged returns the content of a file that need not be read: the
// parent snapshot has it at the same path with the same device, inode, size,
// mtime and ctime, or (for a path new since the parent) the file cache knows
// its device, inode, size and mtime — a moved file.
func (a *archiver) unchanged(ctx context.Context, n, parent *data.Node) ([]repo.ID, bool) {
	if parent != nil {
		if parent.Type == data.NodeFile && parent.Inode == n.Inode && parent.Size == n.Size &&
			parent.ModTime.Equal(n.ModTime) && parent.ChangeTime.Equal(n.ChangeTime) && parent.Device == n.Device &&
			(len(parent.Content) > 0) == (n.Size > 0) && a.contentPresent(ctx, parent.Content) {
			return parent.Content, true
		}
		return nil, false
	}
	if a.noFileCache || n.Inode == 0 { // no inode number: no identity to key on
		return nil, false
	}
	v, ok, err := a.r.Cache().GetMeta(fileCacheKey(n))
	if err != nil || !ok || len(v)%32 != 0 {
		return nil, false
	}
	ids := make([]repo.ID, len(v)/32)
	for i := range ids {
		copy(ids[i][:], v[i*32:])
	}
	if (len(ids) > 0) != (n.Size > 0) || !a.contentPresent(ctx, ids) {
		return nil, false
	}
	return ids, true
}

func (a *archiver) saveFile(ctx context.Context, j fileJob) (*data.Node, error) {
	n := j.node
	if ids, ok := a.unchanged(ctx, n, j.parent); ok && !a.opts.ForceRead {
		n.Content = ids
		a.extMetaUnread(n, j.path)
		a.sum.filesUnmodified.Add(1)
		a.sum.bytesProcessed.Add(int64(n.Size))
		a.prog.Files.Add(1)
		a.prog.Bytes.Add(int64(n.Size))
		return n, nil
	}
	if !isSmall(int64(n.Size), a.dataMin) {
		// A large file's buffers take megabytes: a few at a time.
		select {
		case a.largeSem <- struct{}{}:
			defer func() { <-a.largeSem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f, err := fs.OpenSource(j.path, n.Device, n.Inode)
	if err != nil {
		return nil, &SourceError{Path: j.path, Err: err}
	}
	defer f.Close()
	f.ExpectSize(int64(n.Size))
	a.extMeta(n, f.FD, j.path)
	// The walker's lstat is the "before" state: one fstat after reading
	// tells whether the file changed (or was replaced) meanwhile.
	size0, mtime0 := int64(n.Size), n.ModTime
	ids, size, err := a.chunkStream(ctx, f, repo.ProfileData, j.path, int64(n.Size))
	if err != nil {
		return nil, err
	}
	if size1, mtime1, regular, err := f.Stat(); err != nil || !regular {
		return nil, &SourceError{Path: j.path, Err: errors.New("file was replaced by a non-regular file while reading")}
	} else if size1 != size || size != size0 || !mtime1.Equal(mtime0) {
		if a.opts.Warn != nil {
			a.opts.Warn(j.path, errors.New("file changed while it was read; the snapshot holds the bytes read"))
		}
	} else if size == size0 && n.Inode != 0 {
		// Only a file that did not change while read feeds the file cache.
		v := make([]byte, 0, 32*len(ids))
		for _, id := range ids {
			v = append(v, id[:]...)
		}
		_ = a.fileCache.Put(fileCacheKey(n), v)
	}
	n.Content, n.Size = ids, uint64(size)
	if j.parent != nil {
		a.sum.filesChanged.Add(1)
	} else {
		a.sum.filesNew.Add(1)
	}
	a.sum.bytesProcessed.Add(size)
	a.prog.Files.Add(1)
	return n, nil
}

// nodeFromInfo fills a node's metadata from lstat results.
func (a *archiver) nodeFromInfo(name, p string, fi os.FileInfo) *data.Node {
	n := &data.Node{ModTime: fi.ModTime().UTC()}
	n.SetName(name)
	m := fi.Mode()
	n.Mode = uint32(m & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky))
	switch {
	case m.IsRegular():
		n.Type = data.NodeFile
		n.Size = uint64(fi.Size())
	case m.IsDir():
		n.Type = data.NodeDir
	case m&os.ModeSymlink != 0:
		n.Type = data.NodeSymlink
	case m&os.ModeCharDevice != 0:
		n.Type = data.NodeCharDev
	case m&os.ModeDevice != 0:
		n.Type = data.NodeDev
	case m&os.ModeNamedPipe != 0:
		n.Type = data.NodeFifo
	case m&os.ModeSocket != 0:
		n.Type = data.NodeSocket
	}
	if st, ok := fs.SysStatOf(fi); ok {
		n.UID, n.GID = st.UID, st.GID
		n.Inode, n.Device, n.Links = st.Ino, st.Dev, st.Nlink
		n.Rdev = st.Rdev
		n.ChangeTime = st.Ctime.UTC()
		n.User, n.Group = a.names.user(st.UID), a.names.group(st.GID)
	} else {
		// No ctime, owner or inode here (Windows): see docs/PLATFORMS.md.
		n.ChangeTime = n.ModTime
	}
	if n.Type != data.NodeDev && n.Type != data.NodeCharDev {
		n.Rdev = 0
	}
	return n
}

type nameCache struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

func (c *nameCache) user(id uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil {
		c.users = map[uint32]string{}
	}
	if s, ok := c.users[id]; ok {
		return s
	}
	s := ""
	if u, err := user.LookupId(strconv.Itoa(int(id))); err == nil {
		s = u.Username
	}
	c.users[id] = s
	return s
}

func (c *nameCache) group(id uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups == nil {
		c.groups = map[uint32]string{}
	}
	if s, ok := c.groups[id]; ok {
		return s
	}
	s := ""
	if g, err := user.LookupGroupId(strconv.Itoa(int(id))); err == nil {
		s = g.Name
	}
	c.groups[id] = s
	return s
}
