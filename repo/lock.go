package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// Lock timing (docs/FORMAT.md §10). A lock is refreshed every
// LockRefreshInterval; another process treats it as stale when it was not
// refreshed for LockStaleTimeout (or, on the same host, when its process is
// gone). A holder that could not refresh for LockExpireAfter cancels its own
// work, so it never acts on a lock that others may already consider stale.
const (
	LockRefreshInterval = 5 * time.Minute
	LockStaleTimeout    = 30 * time.Minute
	LockExpireAfter     = LockStaleTimeout - 5*time.Minute
)

// Kinds of sealed files in locks/ (the "kind" JSON field).
const (
	lockKindLock    = "lock"
	lockKindPending = "pending-deletion"
	lockFileVersion = 1
)

// ErrLocked: an exclusive operation (prune, repair) is already running.
var ErrLocked = errors.New("repo: repository is locked by another maintenance operation")

// LockInfo is the content of a lock file (sealed JSON in locks/<id>). One
// holder keeps the same Session across refreshes; each refresh stores a new
// file and removes the previous one.
type LockInfo struct {
	Version   int       `json:"version"` // 1
	Kind      string    `json:"kind"`    // "lock"
	Session   string    `json:"session"` // 32 hex chars, random per holder
	Exclusive bool      `json:"exclusive"`
	Purpose   string    `json:"purpose"` // "backup", "prune", ...
	Host      string    `json:"host"`
	Username  string    `json:"username,omitempty"`
	PID       int       `json:"pid"`
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"`

	file ID // current file name
}

// File returns the name of the lock's current file.
func (l *LockInfo) File() ID { return l.file }

// Stale reports whether l is stale at now, seen from host: not refreshed for
// LockStaleTimeout, or held by a process of this host that no longer exists.
func (l *LockInfo) Stale(now time.Time, host string) bool {
	if now.Sub(l.Refreshed) > LockStaleTimeout {
		return true
	}
	if l.Host == host && host != "" && !processAlive(l.PID) {
		return true
	}
	return false
}

// processAlive reports whether pid exists on this host (EPERM: it exists).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// LockOptions configure Repository.Lock.
type LockOptions struct {
	Exclusive bool   // exclude other exclusive holders (prune, repair)
	Purpose   string // recorded in the lock, shown to users
	// Host and PID override the recorded identity (tests simulate other hosts).
	Host string
	PID  int
	// RefreshInterval overrides LockRefreshInterval (tests).
	RefreshInterval time.Duration
}

// Lock is a held lock. Its refresher runs until Unlock.
type Lock struct {
	r      *Repository
	mu     sync.Mutex
	info   LockInfo
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	stop   chan struct{}
	once   sync.Once
	// resetCache: PrepareWrite left condemned packs out of the local
	// cache; Unlock rebuilds it so later readers on this host see them.
	resetCache bool
}

// ErrLockExpired: the lock could not be refreshed in time; the work done
// under it was cancelled.
var ErrLockExpired = errors.New("repo: lock could not be refreshed in time")

// Context returns a context cancelled when the lock expires (it could not be
// refreshed for LockExpireAfter) or is released. Do the locked work with it.
func (l *Lock) Context() context.Context { return l.ctx }

// Info returns a copy of the lock's current content.
func (l *Lock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// Lock takes a lock. Shared (non-exclusive) locks never wait and never
// conflict: backups take them. An exclusive lock fails with ErrLocked when
// another live exclusive lock exists; stale locks never block anyone.
//
// A shared lock for a writer additionally makes the local cache forget the
// blobs of packs that a pending deletion record condemns (see
// PrepareWrite), so the writer stores such blobs again instead of
// referencing them.
func (r *Repository) Lock(ctx context.Context, opts LockOptions) (*Lock, error) {
	var sess [16]byte
	if _, err := rand.Read(sess[:]); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	info := LockInfo{
		Version: lockFileVersion, Kind: lockKindLock, Session: hex.EncodeToString(sess[:]),
		Exclusive: opts.Exclusive, Purpose: opts.Purpose, Host: opts.Host, PID: opts.PID,
		Created: now, Refreshed: now,
	}
	if info.Host == "" {
		info.Host = hostname()
	}
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	if u, err := user.Current(); err == nil {
		info.Username = u.Username
	}
	if err := r.saveLock(ctx, &info); err != nil {
		return nil, err
	}
	if opts.Exclusive {
		locks, err := r.Locks(ctx)
		if err != nil {
			r.removeLockFile(context.WithoutCancel(ctx), info.file)
			return nil, err
		}
		for _, o := range locks {
			if o.Session == info.Session || !o.Exclusive || o.Stale(time.Now(), hostname()) {
				continue
			}
			r.removeLockFile(context.WithoutCancel(ctx), info.file)
			return nil, fmt.Errorf("%s is running on host %s (pid %d, since %s): %w",
				o.Purpose, o.Host, o.PID, o.Created.Local().Format(time.DateTime), ErrLocked)
		}
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l := &Lock{r: r, info: info, ctx: lctx, cancel: cancel, done: make(chan struct{}), stop: make(chan struct{})}
	iv := opts.RefreshInterval
	if iv <= 0 {
		iv = LockRefreshInterval
	}
	go l.refresher(iv)
	return l, nil
}

func (r *Repository) saveLock(ctx context.Context, info *LockInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	id, err := r.saveHashed(ctx, backend.LockFile, b)
	if err != nil {
		return fmt.Errorf("save lock: %w", err)
	}
	info.file = id
	return nil
}

func (r *Repository) removeLockFile(ctx context.Context, id ID) error {
	err := r.be.Remove(ctx, backend.Handle{Type: backend.LockFile, Name: id.String()})
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("remove lock %s: %w", id.Short(), err)
	}
	return nil
}

// refresher stores a fresh copy of the lock every interval and cancels the
// lock's context when no refresh succeeded for LockExpireAfter (wall clock,
// so a suspended machine notices on resume).
func (l *Lock) refresher(iv time.Duration) {
	defer close(l.done)
	t := time.NewTicker(min(iv, time.Minute))
	defer t.Stop()
	last := time.Now().Round(0) // wall clock
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		now := time.Now().Round(0)
		if now.Sub(last) > LockExpireAfter {
			l.cancel(ErrLockExpired)
			return
		}
		if now.Sub(last) < iv {
			continue
		}
		if err := l.Refresh(l.ctx); err == nil {
			last = now
		}
	}
}

// Refresh stores a new lock file with the current time and removes the old one.
func (l *Lock) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.info
	n.Refreshed = time.Now().UTC()
	if err := l.r.saveLock(ctx, &n); err != nil {
		return err
	}
	old := l.info.file
	l.info = n
	return l.r.removeLockFile(ctx, old)
}

// Unlock stops refreshing and removes the lock file. Safe to call twice.
func (l *Lock) Unlock() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.cancel(context.Canceled)
		l.mu.Lock()
		defer l.mu.Unlock()
		err = l.r.removeLockFile(context.Background(), l.info.file)
		if l.resetCache {
			if rerr := l.r.cache.Reset(); rerr == nil {
				_ = l.r.SyncIndex(context.Background())
			}
		}
	})
	return err
}

// lockFile is the union of the kinds of sealed file stored in locks/.
type lockFile struct {
	Kind string `json:"kind"`
}

// loadLockDir loads every file in locks/: locks and pending deletion
// records. Files that vanish while listing (refreshed, released) are
// skipped; files that fail to decode are reported through bad.
func (r *Repository) loadLockDir(ctx context.Context, bad func(ID, error)) ([]*LockInfo, []*PendingDeletion, error) {
	var ids []ID
	err := r.be.List(ctx, backend.LockFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list locks: %w", err)
	}
	var locks []*LockInfo
	var pend []*PendingDeletion
	for _, id := range ids {
		b, err := r.loadSealed(ctx, backend.Handle{Type: backend.LockFile, Name: id.String()})
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			if bad != nil {
				bad(id, err)
			}
			continue
		}
		var k lockFile
		if err := json.Unmarshal(b, &k); err != nil {
			if bad != nil {
				bad(id, fmt.Errorf("decode: %v: %w", err, ErrCorrupt))
			}
			continue
		}
		switch k.Kind {
		case lockKindLock:
			var l LockInfo
			if err := json.Unmarshal(b, &l); err != nil {
				if bad != nil {
					bad(id, fmt.Errorf("decode lock: %v: %w", err, ErrCorrupt))
				}
				continue
			}
			l.file = id
			locks = append(locks, &l)
		case lockKindPending:
			var p PendingDeletion
			if err := json.Unmarshal(b, &p); err != nil {
				if bad != nil {
					bad(id, fmt.Errorf("decode pending deletion: %v: %w", err, ErrCorrupt))
				}
				continue
			}
			p.file = id
			pend = append(pend, &p)
		default:
			// Unknown kinds from a newer writer: ignore (never delete).
		}
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i].Created.Before(locks[j].Created) })
	sort.Slice(pend, func(i, j int) bool { return pend[i].Created.Before(pend[j].Created) })
	return locks, pend, nil
}

// Locks lists the lock files (refreshed copies of one session may both
// appear briefly).
func (r *Repository) Locks(ctx context.Context) ([]*LockInfo, error) {
	l, _, err := r.loadLockDir(ctx, nil)
	return l, err
}

// RemoveStaleLocks deletes lock files that are stale; it returns how many.
func (r *Repository) RemoveStaleLocks(ctx context.Context) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	now, host := time.Now(), hostname()
	for _, l := range locks {
		if l.Stale(now, host) {
			if err := r.removeLockFile(ctx, l.file); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// PrepareWrite must be called by every writer that deduplicates against the
// index (backup, copy) after taking its shared lock and before it reads the
// index or chooses a parent snapshot: it syncs the local cache and removes
// from it every blob whose packs are condemned by a pending deletion record,
// so the writer stores those blobs again (docs/FORMAT.md §10).
func (r *Repository) PrepareWrite(ctx context.Context) error {
	_, err := r.prepareWrite(ctx)
	return err
}

// prepareWrite is PrepareWrite; it reports whether the cache now leaves
// condemned packs out.
func (r *Repository) prepareWrite(ctx context.Context) (bool, error) {
	if err := r.SyncIndex(ctx); err != nil {
		return false, err
	}
	_, pend, err := r.loadLockDir(ctx, nil)
	if err != nil {
		return false, err
	}
	if len(pend) == 0 {
		return false, nil
	}
	condemned := map[ID]bool{}
	var ids []string
	for _, p := range pend {
		ids = append(ids, p.file.String())
		for _, c := range p.Packs {
			condemned[c.ID] = true
		}
	}
	sort.Strings(ids)
	key := []byte("condemned-filter")
	want := crypto.Hash([]byte(fmt.Sprint(ids))).String()
	if v, ok, err := r.cache.GetMeta(key); err == nil && ok && string(v) == want {
		return true, nil
	}
	if err := r.cache.Reset(); err != nil {
		return false, err
	}
	var idxIDs []ID
	err = r.be.List(ctx, backend.IndexFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			idxIDs = append(idxIDs, id)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("list index files: %w", err)
	}
	for _, id := range idxIDs {
		f, err := r.LoadIndexFile(ctx, id)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		kept := &index.File{Supersedes: f.Supersedes}
		for _, p := range f.Packs {
			if !condemned[p.Pack] {
				kept.Packs = append(kept.Packs, p)
			}
		}
		if err := r.cache.MergeIndexFile(ctx, id, kept); err != nil {
			return false, err
		}
	}
	return true, r.cache.PutMeta(key, []byte(want))
}

// LockForWrite takes a shared lock for a writer (backup, copy) and then
// prepares the local cache with PrepareWrite. Do the writing with the
// lock's Context and Unlock when done.
func (r *Repository) LockForWrite(ctx context.Context, purpose string) (*Lock, error) {
	lk, err := r.Lock(ctx, LockOptions{Purpose: purpose})
	if err != nil {
		return nil, err
	}
	filtered, err := r.prepareWrite(lk.Context())
	lk.resetCache = filtered
	if err != nil {
		lk.Unlock()
		return nil, err
	}
	return lk, nil
}
