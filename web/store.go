package web

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Errors the handlers map to HTTP statuses.
var (
	// ErrBadPath: a path component is empty, ".", "..", or holds a NUL.
	ErrBadPath = errors.New("web: invalid path")
	// ErrNotFound: no such snapshot, file or directory.
	ErrNotFound = errors.New("web: not found")
	// ErrNotDir: a path component that must be a directory is not one.
	ErrNotDir = errors.New("web: not a directory")
)

// store is the server's one adapter over the repository's read API: every
// handler reads snapshots through it, so switching to the engine's shared
// path lookup or a pack-planned reader touches only this file and
// reader.go. Safe for concurrent use.
type store struct {
	r    *repo.Repository
	warn func(string)

	mu    sync.Mutex
	snaps map[repo.ID]*repo.Snapshot // immutable: cached forever once loaded
	bad   map[repo.ID]error          // snapshots that failed to load

	trees *treeCache
	lock  *readLock
}

func newStore(ctx context.Context, r *repo.Repository, warn func(string)) *store {
	return &store{
		r: r, warn: warn,
		snaps: map[repo.ID]*repo.Snapshot{}, bad: map[repo.ID]error{},
		trees: newTreeCache(maxCachedNodes),
		lock:  newReadLock(ctx, r, warn),
	}
}

// snapshots lists the repository's snapshots, newest first. It lists the
// snapshot directory every time (one backend List) and loads only the
// snapshots it has not seen; a snapshot that fails to load is reported once
// through warn and left out.
func (s *store) snapshots(ctx context.Context) ([]*repo.Snapshot, error) {
	ids, err := s.r.SnapshotIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	out := make([]*repo.Snapshot, 0, len(ids))
	for _, id := range ids {
		s.mu.Lock()
		sn, ok := s.snaps[id]
		_, bad := s.bad[id]
		s.mu.Unlock()
		if bad {
			continue
		}
		if !ok {
			sn, err = s.r.LoadSnapshot(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				s.mu.Lock()
				s.bad[id] = err
				s.mu.Unlock()
				s.warn(fmt.Sprintf("snapshot %s: %v (left out of the listing)", id.Short(), err))
				continue
			}
			s.mu.Lock()
			s.snaps[id] = sn
			s.mu.Unlock()
		}
		out = append(out, sn)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].ID().Compare(out[j].ID()) > 0
	})
	return out, nil
}

// snapshot resolves ref, a full ID or a unique hex prefix of at least 8
// characters (the short ID the pages link to).
func (s *store) snapshot(ctx context.Context, ref string) (*repo.Snapshot, error) {
	ref = strings.ToLower(ref)
	if len(ref) < 8 || len(ref) > 64 || strings.Trim(ref, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("snapshot %q: %w", ref, ErrNotFound)
	}
	find := func() (*repo.Snapshot, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var found *repo.Snapshot
		for id, sn := range s.snaps {
			if strings.HasPrefix(id.String(), ref) {
				if found != nil {
					return nil, fmt.Errorf("snapshot prefix %q is ambiguous: %w", ref, ErrNotFound)
				}
				found = sn
			}
		}
		return found, nil
	}
	sn, err := find()
	if sn != nil || err != nil {
		return sn, err
	}
	if _, err := s.snapshots(ctx); err != nil { // a snapshot taken since the last listing
		return nil, err
	}
	sn, err = find()
	if sn == nil && err == nil {
		err = fmt.Errorf("snapshot %s: %w", ref, ErrNotFound)
	}
	return sn, err
}

// splitPath validates a slash-separated path inside a snapshot and returns
// its components ("" and "/" are the root: no components). It refuses
// rather than cleans: a request naming "..", ".", an empty component
// ("a//b") or a NUL byte is malformed, never reinterpreted.
func splitPath(p string) ([]string, error) {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil, nil
	}
	comps := strings.Split(p, "/")
	for _, c := range comps {
		if !validName(c) {
			return nil, fmt.Errorf("%q: %w", p, ErrBadPath)
		}
	}
	return comps, nil
}

// validName reports whether name can be one path component (of a request,
// or of an entry written into an archive).
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// rootNode stands for a snapshot's root directory.
func rootNode(sn *repo.Snapshot) *data.Node {
	tree := sn.Tree
	return &data.Node{Name: "", Type: data.NodeDir, Mode: 0o755, ModTime: sn.Time, Subtree: &tree}
}

// node returns the node at comps in sn (rootNode for none), resolved by the
// program's one path resolver (repo.FindNodeIn) through the tree cache.
func (s *store) node(ctx context.Context, sn *repo.Snapshot, comps []string) (*data.Node, error) {
	n, err := data.FindNodeIn(ctx, s.tree, sn.Tree, "/"+strings.Join(comps, "/"), "")
	switch {
	case errors.Is(err, data.ErrPathNotFound):
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, data.ErrNotADirectory):
		return nil, fmt.Errorf("%w: %w", ErrNotDir, err)
	case err != nil:
		return nil, err
	case n == nil:
		return rootNode(sn), nil
	}
	return n, nil
}

// tree loads a tree through the cache. The returned tree is shared: callers
// must not modify it.
func (s *store) tree(ctx context.Context, id repo.ID) (*data.Tree, error) {
	if t := s.trees.get(id); t != nil {
		return t, nil
	}
	t, err := s.r.LoadTreeBlob(ctx, id) // as stored: the parts of a split directory are cached one by one
	if err != nil {
		return nil, err
	}
	s.trees.put(id, t)
	return t, nil
}

// open returns a reader of file node n. Read it inside a held read lock
// (s.lock.acquire) so a concurrent prune does not delete its packs.
// The reader is the engine's (repo.FileSeeker: pack-planned, read-ahead
// within webReadAhead); close it when done.
func (s *store) open(ctx context.Context, n *data.Node) *repo.FileSeeker {
	return s.r.NewFileSeeker(ctx, n, repo.FileReaderOptions{ReadAhead: webReadAhead})
}

// webReadAhead bounds the read-ahead of one download or WebDAV file (many
// can be open at once).
const webReadAhead = 8 << 20

// maxCachedNodes bounds the tree cache by total entries (a decoded node is
// a few hundred bytes: about 50 MB at most).
const maxCachedNodes = 200_000

// treeCache is an LRU of decoded trees bounded by their total node count.
// Trees are content-addressed, so a cached tree is never stale.
type treeCache struct {
	mu    sync.Mutex
	max   int
	nodes int
	ll    *list.List // of *treeEntry, most recent first
	m     map[repo.ID]*list.Element
}

type treeEntry struct {
	id repo.ID
	t  *data.Tree
}

func newTreeCache(max int) *treeCache {
	return &treeCache{max: max, ll: list.New(), m: map[repo.ID]*list.Element{}}
}

func (c *treeCache) get(id repo.ID) *data.Tree {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*treeEntry).t
	}
	return nil
}

func (c *treeCache) put(id repo.ID, t *data.Tree) {
	if len(t.Nodes) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		return
	}
	c.m[id] = c.ll.PushFront(&treeEntry{id: id, t: t})
	c.nodes += len(t.Nodes)
	for c.nodes > c.max {
		e := c.ll.Back()
		te := e.Value.(*treeEntry)
		c.ll.Remove(e)
		delete(c.m, te.id)
		c.nodes -= len(te.t.Nodes)
	}
}

// readLockLinger is how long the shared reader lock is kept after the last
// reader released it, so a page of downloads does not store a lock file
// per request.
const readLockLinger = 30 * time.Second

// readLock shares one repository reader lock (docs/FORMAT.md §10.3) among
// all downloads in progress, and releases it readLockLinger after the
// last one ends: a prune's deletion phase waits for downloads, but a server
// left running does not block prune forever.
type readLock struct {
	base context.Context
	r    *repo.Repository
	warn func(string)

	mu    sync.Mutex
	lk    *repo.Lock
	users int
	timer *time.Timer
}

func newReadLock(ctx context.Context, r *repo.Repository, warn func(string)) *readLock {
	return &readLock{base: ctx, r: r, warn: warn}
}

// acquire returns a context that ends with ctx or when the lock is lost,
// and the function that releases this use of the lock.
func (l *readLock) acquire(ctx context.Context) (context.Context, func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if l.lk != nil && l.lk.Context().Err() != nil { // expired: could not be refreshed
		l.lk.Unlock()
		l.lk = nil
	}
	if l.lk == nil {
		lk, err := l.r.LockForRead(l.base, "serve")
		switch {
		case err == nil:
			l.lk = lk
		case l.base.Err() != nil || ctx.Err() != nil:
			return nil, nil, err
		default:
			// As the engine's own readers do on a read-only medium: read
			// unprotected rather than not at all.
			l.warn(fmt.Sprintf("could not store a reader lock (%v); reading without one, so a prune running at the same time may delete packs being read", err))
		}
	}
	l.users++
	rctx, cancel := context.WithCancelCause(ctx)
	stop := func() bool { return true }
	if l.lk != nil {
		lctx := l.lk.Context()
		stop = context.AfterFunc(lctx, func() { cancel(context.Cause(lctx)) })
	}
	var once sync.Once
	return rctx, func() {
		once.Do(func() {
			stop()
			cancel(context.Canceled)
			l.release()
		})
	}, nil
}

func (l *readLock) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users--
	if l.users > 0 || l.lk == nil {
		return
	}
	lk := l.lk
	l.timer = time.AfterFunc(readLockLinger, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.users == 0 && l.lk == lk {
			l.lk.Unlock()
			l.lk = nil
		}
	})
}

// close releases the lock now (server shutdown).
func (l *readLock) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	if l.lk != nil {
		l.lk.Unlock()
		l.lk = nil
	}
}
