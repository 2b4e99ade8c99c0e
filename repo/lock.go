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
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// Lock timing (docs/FORMAT.md §10). A lock is refreshed every
// LockRefreshInterval; another process treats it as stale when its file was
// not replaced for LockStaleTimeout on the storage's clock (or, in the same
// kernel and PID namespace, when its process is gone). A holder that could not refresh for LockExpireAfter cancels its own
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
// Errors wrapping it are *LockedError values naming the holder.
var ErrLocked = errors.New("repo: repository is locked by another maintenance operation")

// LockedError names the live exclusive lock that refused a new one.
type LockedError struct {
	Holder LockInfo
	// Age is the time since the holder's last refresh on the storage's
	// clock; negative when the storage does not report times.
	Age time.Duration
}

func (e *LockedError) Error() string {
	age := "unknown time"
	if e.Age >= 0 {
		age = e.Age.Round(time.Second).String()
	}
	return fmt.Sprintf("%s is running on host %s (pid %d, lock refreshed %s ago): %v",
		e.Holder.Purpose, e.Holder.Host, e.Holder.PID, age, ErrLocked)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// LockIdentity is what proves that two processes run on the same kernel in
// the same PID namespace, so that one may test whether the other's PID is
// alive (docs/FORMAT.md §10.1). Empty outside Linux.
type LockIdentity struct {
	BootID       string `json:"boot_id,omitempty"`    // /proc/sys/kernel/random/boot_id
	PIDNamespace string `json:"pid_ns,omitempty"`     // readlink /proc/self/ns/pid, "pid:[4026531836]"
	MachineID    string `json:"machine_id,omitempty"` // /etc/machine-id
}

// Complete reports whether the identity can prove anything: boot ID and
// PID namespace are both known.
func (i LockIdentity) Complete() bool { return i.BootID != "" && i.PIDNamespace != "" }

// SameProcessSpace reports whether a PID recorded under i can be tested by
// a process whose identity is self: both complete and equal.
func (i LockIdentity) SameProcessSpace(self LockIdentity) bool {
	return i.Complete() && self.Complete() && i == self
}

var selfIdentity = sync.OnceValue(currentLockIdentity)

// CurrentLockIdentity returns this process's identity (read once).
func CurrentLockIdentity() LockIdentity { return selfIdentity() }

// LockInfo is the content of a lock file (sealed JSON in locks/<id>). One
// holder keeps the same Session across refreshes; each refresh stores a new
// file and removes the previous one.
type LockInfo struct {
	Version   int       `json:"version"` // 1
	Kind      string    `json:"kind"`    // "lock"
	Session   string    `json:"session"` // 32 hex chars, random per holder
	Exclusive bool      `json:"exclusive"`
	Reader    bool      `json:"reader,omitempty"` // reads packs through an unfiltered cache (restore, check)
	Purpose   string    `json:"purpose"`          // "backup", "prune", ...
	Host      string    `json:"host"`
	Username  string    `json:"username,omitempty"`
	PID       int       `json:"pid"`
	Created   time.Time `json:"created"`   // holder's clock, informative
	Refreshed time.Time `json:"refreshed"` // holder's clock, informative
	LockIdentity

	file    ID        // current file name
	modTime time.Time // the file's modification time on the storage's clock (zero: unknown)
}

// File returns the name of the lock's current file.
func (l *LockInfo) File() ID { return l.file }

// ModTime returns when the lock's file was stored, on the storage's clock
// (zero when the backend does not report it).
func (l *LockInfo) ModTime() time.Time { return l.modTime }

// StaleReason says why l is stale to a process with identity self that
// knows the storage's current time storageNow (the modification time of a
// file it has just stored; zero if unknown), or "" when l may be alive
// (docs/FORMAT.md §10.1):
//   - same kernel and PID namespace (every identity field recorded and
//     equal to self's) and the PID does not exist; or
//   - its file was stored more than LockStaleTimeout before storageNow,
//     both times read from the storage's clock.
//
// The created and refreshed fields (the holder's clock) are never compared
// with anything: a host whose clock is wrong neither makes its live lock
// stale nor its dead lock immortal.
func (l *LockInfo) StaleReason(storageNow time.Time, self LockIdentity) string {
	if l.LockIdentity.SameProcessSpace(self) && !processAlive(l.PID) {
		return fmt.Sprintf("process %d no longer exists", l.PID)
	}
	if age, ok := l.age(storageNow); ok && age > LockStaleTimeout {
		return fmt.Sprintf("not refreshed for %s", age.Round(time.Second))
	}
	return ""
}

// age is the time since l's file was stored, on the storage's clock.
func (l *LockInfo) age(storageNow time.Time) (time.Duration, bool) {
	if storageNow.IsZero() || l.modTime.IsZero() {
		return 0, false
	}
	return storageNow.Sub(l.modTime), true
}

// LockOptions configure Repository.Lock.
type LockOptions struct {
	Exclusive bool   // exclude other exclusive holders (prune, repair)
	Reader    bool   // the holder reads packs (restore, check): prune's deletion waits for it
	Purpose   string // recorded in the lock, shown to users
	// Host and PID override the recorded identity (tests simulate other
	// hosts). A lock whose Host is overridden records no LockIdentity: it
	// claims to come from elsewhere.
	Host string
	PID  int
	// RefreshInterval overrides LockRefreshInterval (tests).
	RefreshInterval time.Duration
	// Now overrides the clock of the created and refreshed fields (tests
	// simulate a host whose clock is wrong).
	Now func() time.Time
}

// lockKind says what a held lock allows its Repository to do without
// taking another one (see hold).
type lockKind int

const (
	lockPlain     lockKind = iota // Lock: nothing implied
	lockRead                      // LockForRead: shared reader lock, cache synced after it was stored
	lockWrite                     // LockForWrite: shared lock, cache filtered (PrepareWrite)
	lockExclusive                 // Lock with Exclusive
)

// covers reports whether a held lock of kind k serves an operation that
// needs kind need. A writer's filtered cache never points into condemned
// packs, so a write lock also serves reads.
func (k lockKind) covers(need lockKind) bool {
	switch need {
	case lockRead:
		return k == lockRead || k == lockWrite
	case lockWrite:
		return k == lockWrite
	}
	return false
}

// heldLocks are the locks taken through one Repository and not yet
// released; engine operations reuse them instead of storing another.
type heldLocks struct {
	mu    sync.Mutex
	locks []*Lock
}

func (h *heldLocks) add(l *Lock) {
	h.mu.Lock()
	h.locks = append(h.locks, l)
	h.mu.Unlock()
}

func (h *heldLocks) remove(l *Lock) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, o := range h.locks {
		if o == l {
			h.locks = append(h.locks[:i], h.locks[i+1:]...)
			return
		}
	}
}

func (h *heldLocks) find(need lockKind) *Lock {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.locks {
		if l.kind.covers(need) && l.ctx.Err() == nil {
			return l
		}
	}
	return nil
}

// Lock is a held lock. Its refresher runs until Unlock.
type Lock struct {
	r      *Repository
	kind   lockKind
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
	// leftover: earlier files of this lock a refresh could not remove.
	leftover []ID
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
// conflict: backups take them. An exclusive lock fails with a *LockedError
// (wrapping ErrLocked) when another live exclusive lock exists; stale locks
// never block anyone.
//
// Engine operations take the locks they need themselves (backup, copy,
// restore, check, dump, ls, diff, stats, prune, repair); a caller may hold
// one across several operations with LockForWrite or LockForRead, and the
// operations then use it instead of storing another.
func (r *Repository) Lock(ctx context.Context, opts LockOptions) (*Lock, error) {
	kind := lockPlain
	if opts.Exclusive {
		kind = lockExclusive
	}
	return r.lock(ctx, opts, kind)
}

func (r *Repository) lock(ctx context.Context, opts LockOptions, kind lockKind) (*Lock, error) {
	// A snapshot listing taken before a lock never stands in for one
	// taken under it: prune lists the snapshots after taking its
	// exclusive lock (FORMAT §10), and Open's early listing would miss a
	// backup that saved its snapshot and unlocked in between, whose packs
	// prune would then take for unused.
	r.earlySnaps.drop()
	var sess [16]byte
	if _, err := rand.Read(sess[:]); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if opts.Now != nil {
		now = opts.Now().UTC()
	}
	info := LockInfo{
		Version: lockFileVersion, Kind: lockKindLock, Session: hex.EncodeToString(sess[:]),
		Exclusive: opts.Exclusive, Reader: opts.Reader, Purpose: opts.Purpose, Host: opts.Host, PID: opts.PID,
		Created: now, Refreshed: now,
	}
	if info.Host == "" {
		info.Host = hostname()
		info.LockIdentity = CurrentLockIdentity()
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
		states, storageNow, err := r.lockStates(ctx, info.file)
		if err != nil {
			r.removeLockFile(context.WithoutCancel(ctx), info.file)
			return nil, err
		}
		for _, o := range states {
			if o.Session == info.Session || !o.Exclusive || o.stale != "" {
				continue
			}
			r.removeLockFile(context.WithoutCancel(ctx), info.file)
			age, ok := o.age(storageNow)
			if !ok {
				age = -1
			}
			return nil, &LockedError{Holder: *o.LockInfo, Age: age}
		}
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l := &Lock{r: r, kind: kind, info: info, ctx: lctx, cancel: cancel, done: make(chan struct{}), stop: make(chan struct{})}
	iv := opts.RefreshInterval
	if iv <= 0 {
		iv = LockRefreshInterval
	}
	go l.refresher(iv, opts.Now)
	r.held.add(l)
	return l, nil
}

func (r *Repository) saveLock(ctx context.Context, info *LockInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	id, err := r.saveHashed(ctx, backend.LockFile, b)
	if err != nil {
		if ctx.Err() != nil && !id.IsNull() {
			// Cancelled in flight: the server may have stored it anyway
			// (an S3 PUT whose answer was not awaited). Its name is its
			// hash, so it can be withdrawn without knowing.
			_ = r.removeLockFile(context.WithoutCancel(ctx), id)
		}
		return fmt.Errorf("save lock: %w", err)
	}
	r.ownLocks.Store(id, b)
	info.file = id
	return nil
}

func (r *Repository) removeLockFile(ctx context.Context, id ID) error {
	r.ownLocks.Delete(id)
	// A lock already gone counts as removed: no existence check (on S3 a
	// round trip at the end of every command, issue 14).
	err := r.be.Remove(backend.MissingOK(ctx), backend.Handle{Type: backend.LockFile, Name: id.String()})
	if err != nil && !errors.Is(err, backend.ErrNotFound) {
		return fmt.Errorf("remove lock %s: %w", id.Short(), err)
	}
	return nil
}

// refresher stores a fresh copy of the lock every interval and cancels the
// lock's context when no refresh succeeded for LockExpireAfter (wall clock,
// so a suspended machine notices on resume).
func (l *Lock) refresher(iv time.Duration, clock func() time.Time) {
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
		if err := l.refresh(l.ctx, clock); err == nil {
			last = now
		}
	}
}

// Refresh stores a new lock file with the current time and removes the old one.
func (l *Lock) Refresh(ctx context.Context) error { return l.refresh(ctx, nil) }

func (l *Lock) refresh(ctx context.Context, clock func() time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.info
	n.Refreshed = time.Now().UTC()
	if clock != nil {
		n.Refreshed = clock().UTC()
	}
	if err := l.r.saveLock(ctx, &n); err != nil {
		return err
	}
	old := l.info.file
	l.info = n
	// The new file is stored: the old one goes whatever happens to ctx
	// (a signal cancelling the command right after the save left it
	// behind, a live-looking lock of the interrupted prune). Should the
	// removal fail, Unlock tries again.
	if err := l.r.removeLockFile(context.WithoutCancel(ctx), old); err != nil {
		l.leftover = append(l.leftover, old)
		return err
	}
	return nil
}

// Unlock stops refreshing and removes the lock file. Safe to call twice.
func (l *Lock) Unlock() error {
	var err error
	l.once.Do(func() {
		l.r.held.remove(l)
		close(l.stop)
		<-l.done
		l.cancel(context.Canceled)
		l.mu.Lock()
		defer l.mu.Unlock()
		err = l.r.removeLockFile(context.Background(), l.info.file)
		for _, f := range l.leftover {
			if rerr := l.r.removeLockFile(context.Background(), f); rerr != nil && err == nil {
				err = rerr
			}
		}
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
	mtimes := map[ID]time.Time{}
	err := r.be.List(ctx, backend.LockFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			ids = append(ids, id)
			mtimes[id] = fi.ModTime
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list locks: %w", err)
	}
	// Loaded concurrently, a few at a time, and taken in listing order
	// (on S3 each is a round trip, issue 14); a file this Repository
	// stored is not read back: its name is the hash of what it stored.
	type loaded struct {
		b   []byte
		err error
	}
	res := make([]chan loaded, len(ids))
	sem := make(chan struct{}, max(1, min(16, r.be.Properties().Connections)))
	for i, id := range ids {
		res[i] = make(chan loaded, 1)
		if b, ok := r.ownLocks.Load(id); ok {
			res[i] <- loaded{b.([]byte), nil}
			continue
		}
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				res[i] <- loaded{nil, ctx.Err()}
				return
			}
			b, err := r.loadSealed(ctx, backend.Handle{Type: backend.LockFile, Name: id.String()})
			<-sem
			res[i] <- loaded{b, err}
		}()
	}
	var locks []*LockInfo
	var pend []*PendingDeletion
	for i, id := range ids {
		l := <-res[i]
		b, err := l.b, l.err
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
			l.modTime = mtimes[id]
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

// lockState is one lock session as a judge sees it.
type lockState struct {
	*LockInfo        // the session's newest file (its modTime: the newest of its files)
	files     []ID   // every file of the session (a failed removal may leave an older one)
	stale     string // why it is stale; "" if it may be alive
}

// lockStates lists the lock sessions in locks/ and judges each. probe is a
// file this process has just stored in locks/ (its own lock, new or
// refreshed): its modification time is the storage's current time. It
// also returns that time (zero when unknown: then only the PID rule
// applies).
func (r *Repository) lockStates(ctx context.Context, probe ID) ([]*lockState, time.Time, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var storageNow time.Time
	for _, l := range locks {
		if l.file == probe {
			storageNow = l.modTime
		}
	}
	bySession := map[string]*lockState{}
	var states []*lockState
	for _, l := range locks {
		s := bySession[l.Session]
		if s == nil {
			c := *l
			s = &lockState{LockInfo: &c}
			bySession[l.Session] = s
			states = append(states, s)
		} else {
			// The holder's own clock orders the files of its session; the
			// session's storage time is that of its newest file.
			mt := s.modTime
			if l.Refreshed.After(s.Refreshed) {
				c := *l
				s.LockInfo = &c
			}
			if mt.After(l.modTime) {
				s.modTime = mt
			} else {
				s.modTime = l.modTime
			}
		}
		s.files = append(s.files, l.file)
	}
	self := CurrentLockIdentity()
	for _, s := range states {
		s.stale = s.StaleReason(storageNow, self)
	}
	return states, storageNow, nil
}

// lockStatesNow is lockStates with a fresh probe: lk is refreshed first,
// so the storage's current time is read from its new file.
func (r *Repository) lockStatesNow(ctx context.Context, lk *Lock) ([]*lockState, time.Time, error) {
	if err := lk.Refresh(ctx); err != nil {
		return nil, time.Time{}, err
	}
	return r.lockStates(ctx, lk.Info().file)
}

// UnlockOptions select the locks RemoveLocks removes besides stale ones.
type UnlockOptions struct {
	// RemoveAll removes every lock, live or not. Only for when the user has
	// made sure no other process uses the repository.
	RemoveAll bool
	// Host removes every lock recorded by this host name, except locks of
	// this kernel and PID namespace whose process is alive. For when the
	// user has made sure nothing runs on that host any more.
	Host string
}

// LockReport describes one lock session RemoveLocks removed or kept.
type LockReport struct {
	Session   string    `json:"session"`
	Purpose   string    `json:"purpose"`
	Host      string    `json:"host"`
	Username  string    `json:"username,omitempty"`
	PID       int       `json:"pid"`
	Exclusive bool      `json:"exclusive"`
	Created   time.Time `json:"created"`
	// AgeSeconds: since the last refresh, on the storage's clock (-1: unknown).
	AgeSeconds float64 `json:"age_seconds"`
	Reason     string  `json:"reason"` // why removed, or why kept
}

// UnlockResult is what RemoveLocks did.
type UnlockResult struct {
	Removed []LockReport `json:"removed"`
	Kept    []LockReport `json:"kept"`
}

// RemoveLocks removes stale locks and, per opts, others (restic's unlock).
// It stores a short-lived lock of its own to read the storage's clock.
// Pending deletion records are never removed.
func (r *Repository) RemoveLocks(ctx context.Context, opts UnlockOptions) (*UnlockResult, error) {
	probe, err := r.Lock(ctx, LockOptions{Purpose: "unlock"})
	if err != nil {
		return nil, err
	}
	defer probe.Unlock()
	return r.removeLocks(probe.Context(), probe, opts)
}

func (r *Repository) removeLocks(ctx context.Context, own *Lock, opts UnlockOptions) (*UnlockResult, error) {
	states, storageNow, err := r.lockStates(ctx, own.Info().file)
	if err != nil {
		return nil, err
	}
	self := CurrentLockIdentity()
	res := &UnlockResult{Removed: []LockReport{}, Kept: []LockReport{}}
	for _, s := range states {
		if s.Session == own.info.Session {
			continue
		}
		rep := LockReport{Session: s.Session, Purpose: s.Purpose, Host: s.Host, Username: s.Username, PID: s.PID,
			Exclusive: s.Exclusive, Created: s.Created, AgeSeconds: -1}
		if age, ok := s.age(storageNow); ok {
			rep.AgeSeconds = age.Round(time.Second).Seconds()
		}
		switch {
		case s.stale != "":
			rep.Reason = "stale: " + s.stale
		case opts.RemoveAll:
			rep.Reason = "--remove-all"
		case opts.Host != "" && s.Host == opts.Host && s.SameProcessSpace(self):
			rep.Reason = fmt.Sprintf("process %d is running on this machine", s.PID)
		case opts.Host != "" && s.Host == opts.Host:
			rep.Reason = "host " + opts.Host + " confirmed gone"
		default:
			rep.Reason = "may be alive"
		}
		if s.stale == "" && !opts.RemoveAll && (opts.Host == "" || s.Host != opts.Host || s.SameProcessSpace(self)) {
			res.Kept = append(res.Kept, rep)
			continue
		}
		for _, f := range s.files {
			if err := r.removeLockFile(ctx, f); err != nil {
				return res, err
			}
		}
		res.Removed = append(res.Removed, rep)
	}
	return res, nil
}

// RemoveStaleLocks deletes stale locks; it returns how many.
func (r *Repository) RemoveStaleLocks(ctx context.Context) (int, error) {
	res, err := r.RemoveLocks(ctx, UnlockOptions{})
	if err != nil {
		return 0, err
	}
	return len(res.Removed), nil
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
	idxIDs, _, err := r.listIndexFiles(ctx, nil)
	if err != nil {
		return false, err
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
// lock's Context and Unlock when done. Backup and Copy take it themselves
// when the Repository holds none.
func (r *Repository) LockForWrite(ctx context.Context, purpose string) (*Lock, error) {
	lk, err := r.lock(ctx, LockOptions{Purpose: purpose}, lockWrite)
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

// LockForRead takes a shared reader lock (restore, check, dump) and then
// syncs the local cache with the index files, so the reader never looks
// for a pack that a prune has already dropped from the index
// (docs/FORMAT.md §10.3). Read with the lock's Context and Unlock when done.
func (r *Repository) LockForRead(ctx context.Context, purpose string) (*Lock, error) {
	lk, err := r.lock(ctx, LockOptions{Purpose: purpose, Reader: true}, lockRead)
	if err != nil {
		return nil, err
	}
	if err := r.SyncIndex(lk.Context()); err != nil {
		lk.Unlock()
		return nil, err
	}
	return lk, nil
}

// HoldForRead is what engine read operations do at their entry, for a
// caller above the engine that runs many of them as one operation (find
// across snapshots, an Immich restore or verify): one shared reader lock
// for all of them instead of one per call (the engine reuses a held lock,
// see hold). Use the returned context for the reads; call release when
// done.
func (r *Repository) HoldForRead(ctx context.Context, purpose string) (context.Context, func(), error) {
	return r.hold(ctx, lockRead, purpose)
}

// HoldForWrite is HoldForRead for engine operations that add to the
// repository (backup, copy's destination): a shared writer lock, or one
// this Repository already holds that covers it.
func (r *Repository) HoldForWrite(ctx context.Context, purpose string) (context.Context, func(), error) {
	return r.hold(ctx, lockWrite, purpose)
}

// hold gives an engine operation the lock it needs: a lock this Repository
// already holds that covers it, else a new one (LockForRead or
// LockForWrite). The returned context ends when the lock expires; call
// release when done.
func (r *Repository) hold(ctx context.Context, need lockKind, purpose string) (context.Context, func(), error) {
	if l := r.held.find(need); l != nil {
		hctx, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(l.ctx, func() { cancel(context.Cause(l.ctx)) })
		return hctx, func() { stop(); cancel(context.Canceled) }, nil
	}
	var lk *Lock
	var err error
	if need == lockWrite {
		lk, err = r.LockForWrite(ctx, purpose)
	} else {
		lk, err = r.LockForRead(ctx, purpose)
		if err != nil && ctx.Err() == nil {
			// A read-only medium, or a copy that lost the empty locks/
			// directory: reading stays possible, as it was before readers
			// took locks, but unprotected.
			r.opts.warn("%s: could not store a reader lock (%v); reading without one, so a prune running at the same time may delete packs this %s reads", purpose, err, purpose)
			return ctx, func() {}, nil
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return lk.Context(), func() { lk.Unlock() }, nil
}

// tempFileMargin widens TempFileCutoff's window for a writer's lock: a
// writer stores its lock before its first temporary file, so its session's
// start is a bound, and the margin covers the rounding of modification
// times and a holder whose clock rate drifts.
const tempFileMargin = 5 * time.Minute

// TempFileCutoff returns the instant, on the storage's clock, before which
// a temporary file left in the repository (a local backend's ".tmp-*")
// cannot belong to a running writer: LockStaleTimeout before the storage's
// current time, and before the start of every live lock session minus
// tempFileMargin. A writer creates temporary files only while it holds its
// lock, so a file older than every live session is litter; the age bound
// alone covers short writers without a lock (init, key changes).
//
// Everything is measured on the storage's clock (FORMAT §10.2): the
// current time is the modification time of a probe lock stored here, and a
// session's start is its newest file's modification time minus how long
// the holder had held it then (refreshed - created: one clock, so no skew
// between hosts enters). It returns the zero time when the storage reports
// no modification times: then no temporary file may be removed.
func (r *Repository) TempFileCutoff(ctx context.Context) (time.Time, error) {
	probe, err := r.Lock(ctx, LockOptions{Purpose: "temp-files"})
	if err != nil {
		return time.Time{}, err
	}
	defer probe.Unlock()
	states, storageNow, err := r.lockStates(probe.Context(), probe.Info().file)
	if err != nil || storageNow.IsZero() {
		return time.Time{}, err
	}
	cutoff := storageNow.Add(-LockStaleTimeout)
	for _, s := range states {
		if s.Session == probe.info.Session || s.stale != "" {
			continue
		}
		if s.modTime.IsZero() {
			return time.Time{}, nil // a live session whose start is unknown
		}
		held := s.Refreshed.Sub(s.Created)
		if held < 0 {
			held = 0
		}
		if start := s.modTime.Add(-held - tempFileMargin); start.Before(cutoff) {
			cutoff = start
		}
	}
	return cutoff, nil
}
