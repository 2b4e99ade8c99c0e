package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/data"
)

// PendingDeletion is a pending deletion record: packs condemned by a prune
// run, deleted by a later step only when no process that could still
// reference them is alive (docs/FORMAT.md §10). Stored as sealed JSON in
// locks/<id> with kind "pending-deletion".
type PendingDeletion struct {
	Version int             `json:"version"` // 1
	Kind    string          `json:"kind"`    // "pending-deletion"
	Created time.Time       `json:"created"`
	Host    string          `json:"host"`
	PID     int             `json:"pid"`
	Packs   []CondemnedPack `json:"packs"`
	// Locks are the locks (other than the pruner's) alive after the record
	// was stored. Nil: the record is not complete yet (the next prune lists
	// the locks alive then and completes it).
	Locks []SeenLock `json:"locks"`

	file ID
}

// CondemnedPack is one pack of a pending deletion record.
type CondemnedPack struct {
	ID      ID    `json:"id"`
	Size    int64 `json:"size"`
	Indexed bool  `json:"indexed"` // listed by an index file when condemned
}

// SeenLock identifies a lock alive when a record was completed.
type SeenLock struct {
	Session string    `json:"session"`
	File    ID        `json:"file"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Seen    time.Time `json:"seen"` // the pruner's clock when it listed the lock
}

// PruneOptions configure Prune.
type PruneOptions struct {
	// MaxUnusedPercent is the share of unused bytes allowed to remain in
	// partially used packs (default 5; negative: repack every pack with
	// unused data).
	MaxUnusedPercent float64
	// MaxRepackBytes bounds the bytes of packs read for repacking (0: no limit).
	MaxRepackBytes int64
	DryRun         bool
	// Host and PID override the recorded identity (tests).
	Host string
	PID  int
	// Progress receives human-readable steps (may be nil).
	Progress func(msg string)
}

// PruneResult reports what prune did or, with DryRun, would do.
type PruneResult struct {
	DryRun         bool  `json:"dry_run"`
	Snapshots      int   `json:"snapshots"`
	PacksTotal     int   `json:"packs_total"`
	BytesTotal     int64 `json:"bytes_total"`
	UsedBlobs      int   `json:"used_blobs"`
	UnusedBlobs    int   `json:"unused_blobs"`
	UnusedBytes    int64 `json:"unused_bytes"`
	UnindexedPacks int   `json:"unindexed_packs"`
	// Condemned this run: packs without used blobs, repacked packs and
	// unindexed packs.
	CondemnedPacks int   `json:"condemned_packs"`
	CondemnedBytes int64 `json:"condemned_bytes"`
	RepackedPacks  int   `json:"repacked_packs"`
	RepackedBytes  int64 `json:"repacked_bytes"` // read for repacking
	NewPacks       int   `json:"new_packs"`
	NewBytes       int64 `json:"new_bytes"`
	// Deleted this run (from this run's or earlier runs' records).
	DeletedPacks   int    `json:"deleted_packs"`
	FreedBytes     int64  `json:"freed_bytes"`
	DeletedIndex   int    `json:"deleted_index_files"`
	RescuedPacks   int    `json:"rescued_packs"`
	DeferredPacks  int    `json:"deferred_packs"`
	DeferredBytes  int64  `json:"deferred_bytes"`
	DeferredReason string `json:"deferred_reason,omitempty"`
	StaleLocks     int    `json:"stale_locks_removed"`
}

// repoIndex is the repository index as its index files state it (not the
// local cache): prune, check and repair must see every pack holding a
// blob, condemned or not. It is an index.Table on disk (see its doc for
// the design and the memory it takes), built by loadRepoIndex, the one
// loader of these commands.
type repoIndex struct {
	t *index.Table
}

// tableDir is where index tables and handle sets spill: the repository's
// cache directory (on disk, unlike a tmpfs /tmp), or the temporary cache.
func (r *Repository) tableDir() string {
	if r.cacheTmp != "" {
		return r.cacheTmp
	}
	return r.tmpDir
}

// loadRepoIndex streams every index file, in ID order, into a table. An
// index file that fails to load is passed to onErr (nil: the load fails);
// one listed but gone meanwhile is skipped.
func (r *Repository) loadRepoIndex(ctx context.Context, onErr func(ID, error)) (*repoIndex, error) {
	ids, _, err := r.listIndexFiles(ctx, func(name string) {
		if onErr != nil {
			onErr(ID{}, fmt.Errorf("index/%s: not an index file name", name))
		}
	})
	if err != nil {
		return nil, err
	}
	next := func() (ID, *index.File, error) {
		for len(ids) > 0 {
			id := ids[0]
			ids = ids[1:]
			f, err := r.LoadIndexFile(ctx, id)
			if errors.Is(err, backend.ErrNotFound) {
				continue
			}
			if err != nil {
				if onErr != nil && ctx.Err() == nil {
					onErr(id, err)
					continue
				}
				return id, nil, err
			}
			return id, f, nil
		}
		return ID{}, nil, io.EOF
	}
	t, err := index.BuildTable(ctx, r.tableDir(), next)
	if err != nil {
		return nil, err
	}
	return &repoIndex{t: t}, nil
}

func (ri *repoIndex) close() {
	if ri != nil && ri.t != nil {
		ri.t.Close()
	}
}

// location returns where holder hd keeps its blob.
func (ri *repoIndex) location(hd index.Holder) (index.Location, error) {
	p, err := ri.t.Pack(hd.Pack)
	if err != nil {
		return index.Location{}, err
	}
	e := hd.Entry
	return index.Location{Pack: p.ID, Compression: e.Compression, Offset: e.Offset, Length: e.Length, RawLength: e.RawLength}, nil
}

// loadTreeVia loads a tree through ri (trying every pack that holds it).
func (r *Repository) loadTreeVia(ctx context.Context, ri *repoIndex, id ID) (*data.Tree, error) {
	h := pack.BlobHandle{ID: id, Type: pack.TreeBlob}
	holders, err := ri.t.Lookup(h)
	if err != nil {
		return nil, err
	}
	var lastErr error = fmt.Errorf("tree %s: %w", id.Short(), ErrBlobNotFound)
	for _, hd := range holders {
		loc, err := ri.location(hd)
		if err != nil {
			return nil, err
		}
		b, err := r.loadBlobAt(ctx, h, loc, nil)
		if err != nil {
			lastErr = err
			continue
		}
		return data.DecodeTree(b)
	}
	return nil, lastErr
}

// usedSet is the set of blobs referenced by the snapshots walked so far, on
// disk (index.HandleSet); only the IDs of the trees walked (far fewer than
// blobs) are kept in memory, so that shared subtrees are walked once.
type usedSet struct {
	set   *index.HandleSet // frozen; nil before the first addSnapshots
	trees map[ID]bool
	snaps map[ID]bool
}

func newUsedSet() *usedSet { return &usedSet{trees: map[ID]bool{}, snaps: map[ID]bool{}} }

func (u *usedSet) close() {
	if u.set != nil {
		u.set.Close()
	}
}

// addSnapshots walks every snapshot of ids not walked yet. Any snapshot or
// tree that cannot be read is an error: prune never deletes when unsure.
// ids must have been listed before the index files of ri: a writer stores
// its index files before its snapshot, so every tree of a snapshot listed
// first is in an index file listed next, while a snapshot listed after
// the index may use index files that are not in ri yet.
func (r *Repository) addSnapshots(ctx context.Context, ri *repoIndex, u *usedSet, ids []ID) (int, error) {
	add, err := index.NewHandleSet(r.tableDir())
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if u.snaps[id] {
			continue
		}
		sn, err := r.LoadSnapshot(ctx, id)
		if errors.Is(err, backend.ErrNotFound) {
			continue // forgotten meanwhile
		}
		if err != nil {
			add.Close()
			return 0, fmt.Errorf("%w (run check, then repair snapshots or forget it)", err)
		}
		if err := r.markTree(ctx, ri, u, add, sn.Tree); err != nil {
			add.Close()
			return 0, fmt.Errorf("snapshot %s: %w (run check and repair snapshots first)", id.Short(), err)
		}
		u.snaps[id] = true
	}
	if err := add.Freeze(u.set); err != nil {
		add.Close()
		return 0, err
	}
	u.close()
	u.set = add
	return len(ids), nil
}

func (r *Repository) markTree(ctx context.Context, ri *repoIndex, u *usedSet, add *index.HandleSet, id ID) error {
	if u.trees[id] {
		return nil
	}
	t, err := r.loadTreeVia(ctx, ri, id)
	if err != nil {
		return err
	}
	u.trees[id] = true
	if err := add.Add(pack.BlobHandle{ID: id, Type: pack.TreeBlob}); err != nil {
		return err
	}
	for _, n := range t.Nodes {
		for _, c := range n.Content {
			if err := add.Add(pack.BlobHandle{ID: c, Type: pack.DataBlob}); err != nil {
				return err
			}
		}
		if n.Subtree != nil {
			if err := r.markTree(ctx, ri, u, add, *n.Subtree); err != nil {
				return err
			}
		}
	}
	for i := range t.Parts { // a split directory's parts (repo/treesplit.go)
		if err := r.markTree(ctx, ri, u, add, t.Parts[i].Subtree); err != nil {
			return err
		}
	}
	return nil
}

// partialPack is a pack holding unused blobs.
type partialPack struct {
	info         index.PackInfo
	size, unused int64
}

// packState flags, per pack ordinal of a table.
const (
	packPresent   = 1 << iota // in the backend
	packCondemned             // in a pending deletion record (doomed, in processPending)
)

// packStates returns the flags of every pack of ri, one byte per pack.
func packStates(ri *repoIndex, sizes map[ID]int64, condemned map[ID]bool) ([]uint8, error) {
	st := make([]uint8, ri.t.NumPacks())
	err := ri.t.ForEachPack(func(p index.PackInfo) error {
		if _, ok := sizes[p.ID]; ok {
			st[p.Ord] |= packPresent
		}
		if condemned[p.ID] {
			st[p.Ord] |= packCondemned
		}
		return nil
	})
	return st, err
}

// keeper returns the pack that keeps the copy of a used blob: the first
// holder (in pack ID order) that is present and not condemned, or -1.
func keeper(holders []index.Holder, st []uint8) int64 {
	for _, hd := range holders {
		if st[hd.Pack] == packPresent {
			return int64(hd.Pack)
		}
	}
	return -1
}

// planRepack is prune's repacking policy, a pure function of the usage
// figures (tested on its own in prune_plan_test.go): partially used packs
// are repacked most wasteful first (unused/size, then pack ID) until the
// unused bytes left, unusedTotal minus what is repacked, are within
// opts.MaxUnusedPercent of total (the bytes kept after condemning unused
// packs; a negative percentage repacks every partial pack). A pack that
// would take the bytes read past opts.MaxRepackBytes (when > 0) is skipped
// and smaller ones still considered. It returns the packs to repack and
// their bytes. partial is sorted in place.
func planRepack(partial []partialPack, unusedTotal, total int64, opts PruneOptions) ([]partialPack, int64) {
	sort.Slice(partial, func(i, j int) bool {
		a, b := partial[i], partial[j]
		if a.unused*b.size != b.unused*a.size {
			return a.unused*b.size > b.unused*a.size
		}
		return a.info.ID.Compare(b.info.ID) < 0
	})
	var repack []partialPack
	var repacked int64
	for _, pp := range partial {
		if opts.MaxUnusedPercent >= 0 && float64(unusedTotal) <= opts.MaxUnusedPercent/100*float64(total) {
			break
		}
		if opts.MaxRepackBytes > 0 && repacked+pp.size > opts.MaxRepackBytes {
			continue
		}
		repack = append(repack, pp)
		repacked += pp.size
		unusedTotal -= pp.unused
	}
	return repack, repacked
}

// Prune removes data no snapshot references. It takes the exclusive lock
// itself. Deletion is two-phase (docs/FORMAT.md §10): this run condemns
// packs in a pending deletion record after writing any repacked blobs and
// their index; condemned packs are deleted once every process that could
// still reference them has finished — at once when no other process holds
// a lock, otherwise by a later prune run.
func (r *Repository) Prune(ctx context.Context, opts PruneOptions) (*PruneResult, error) {
	if opts.MaxUnusedPercent == 0 {
		opts.MaxUnusedPercent = 5
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			opts.Progress(fmt.Sprintf(format, args...))
		}
	}
	res := &PruneResult{DryRun: opts.DryRun}
	var lk *Lock
	if !opts.DryRun {
		var err error
		lk, err = r.Lock(ctx, LockOptions{Exclusive: true, Purpose: "prune", Host: opts.Host, PID: opts.PID})
		if err != nil {
			return nil, err
		}
		defer lk.Unlock()
		ctx = lk.Context()
		if u, err := r.removeLocks(ctx, lk, UnlockOptions{}); err == nil {
			res.StaleLocks = len(u.Removed)
		}
	}
	// List packs before index files: a pack saved meanwhile is either not
	// seen at all or seen together with its index file or as unindexed.
	sizes, err := r.packSizes(ctx)
	if err != nil {
		return nil, err
	}
	snapIDs, err := r.SnapshotIDs(ctx) // before the index: see addSnapshots
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	progress("loading index")
	ri, err := r.loadRepoIndex(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer ri.close()
	_, pend, err := r.loadLockDir(ctx, nil)
	if err != nil {
		return nil, err
	}
	condemned := map[ID]bool{}
	for _, p := range pend {
		for _, c := range p.Packs {
			condemned[c.ID] = true
		}
	}
	progress("finding used blobs")
	u := newUsedSet()
	defer u.close()
	if res.Snapshots, err = r.addSnapshots(ctx, ri, u, snapIDs); err != nil {
		return nil, err
	}
	res.UsedBlobs = int(u.set.Len())

	// Plan: every used blob keeps one copy, preferring packs that are not
	// condemned, in pack ID order (a merge join of the used set with the
	// table, both sorted by blob).
	st, err := packStates(ri, sizes, condemned)
	if err != nil {
		return nil, err
	}
	usedBytes := make([]int64, ri.t.NumPacks())
	usedCount := make([]int32, ri.t.NumPacks())
	cur := ri.t.BlobCursor()
	err = u.set.ForEach(func(h pack.BlobHandle) error {
		holders, err := cur.Seek(h)
		if err != nil {
			return err
		}
		if len(holders) == 0 {
			return fmt.Errorf("%s blob %s is used by a snapshot but in no index file: %w (run check, then repair index)", h.Type, h.ID.Short(), ErrBlobNotFound)
		}
		if k := keeper(holders, st); k >= 0 {
			for _, hd := range holders {
				if int64(hd.Pack) == k {
					usedBytes[k] += int64(hd.Entry.Length)
					usedCount[k]++
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, size := range sizes {
		res.PacksTotal++
		res.BytesTotal += size
	}
	var newCond []CondemnedPack
	var partial []partialPack
	var unusedTotal int64
	err = ri.t.ForEachPack(func(p index.PackInfo) error {
		if st[p.Ord] != packPresent {
			return nil
		}
		res.UnusedBlobs += p.Entries - int(usedCount[p.Ord])
		un := p.Bytes - usedBytes[p.Ord]
		res.UnusedBytes += un
		if usedCount[p.Ord] == 0 {
			newCond = append(newCond, CondemnedPack{ID: p.ID, Size: sizes[p.ID], Indexed: true})
			return nil
		}
		if un > 0 {
			partial = append(partial, partialPack{info: p, size: sizes[p.ID], unused: un})
			unusedTotal += un
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, size := range sizes {
		if condemned[id] {
			continue
		}
		if _, ok, err := ri.t.FindPack(id); err != nil {
			return nil, err
		} else if !ok {
			res.UnindexedPacks++
			newCond = append(newCond, CondemnedPack{ID: id, Size: size, Indexed: false})
		}
	}
	var total int64
	for _, c := range newCond {
		total -= c.Size
	}
	total += res.BytesTotal
	repack, repackedBytes := planRepack(partial, unusedTotal, total, opts)
	res.RepackedBytes += repackedBytes
	partial = nil
	res.RepackedPacks = len(repack)
	for _, c := range newCond {
		res.CondemnedPacks++
		res.CondemnedBytes += c.Size
	}
	for _, pp := range repack {
		res.CondemnedPacks++
		res.CondemnedBytes += pp.size
	}
	if opts.DryRun {
		return res, nil
	}

	// Phase 1: copy the kept blobs of repacked packs, index them, then
	// condemn.
	if len(repack) > 0 {
		progress("repacking %d packs", len(repack))
		// The kept blobs of a repacked pack: the used ones it is the
		// keeper of (point lookups: repacking reads these packs anyway).
		want := func(pid ID) ([]pack.Entry, error) {
			p, ok, err := ri.t.FindPack(pid)
			if err != nil || !ok {
				return nil, err
			}
			entries, err := ri.t.PackEntries(p)
			if err != nil {
				return nil, err
			}
			var out []pack.Entry
			for _, e := range entries {
				if used, err := u.set.Has(e.BlobHandle); err != nil {
					return nil, err
				} else if !used {
					continue
				}
				holders, err := ri.t.Lookup(e.BlobHandle)
				if err != nil {
					return nil, err
				}
				if keeper(holders, st) == int64(p.Ord) {
					out = append(out, e)
				}
			}
			return out, nil
		}
		ids := make([]ID, len(repack))
		for i, pp := range repack {
			ids[i] = pp.info.ID
		}
		if _, err := r.repack(ctx, ids, want, res); err != nil {
			return nil, err
		}
		for _, pp := range repack {
			newCond = append(newCond, CondemnedPack{ID: pp.info.ID, Size: pp.size, Indexed: true})
		}
	}
	if len(newCond) > 0 {
		sort.Slice(newCond, func(i, j int) bool { return bytes.Compare(newCond[i].ID[:], newCond[j].ID[:]) < 0 })
		rec := &PendingDeletion{Version: lockFileVersion, Kind: lockKindPending, Created: time.Now().UTC(),
			Host: lk.info.Host, PID: lk.info.PID, Packs: newCond}
		if err := r.savePending(ctx, rec); err != nil {
			return nil, err
		}
		pend = append(pend, rec)
	}
	// Phase 2 for every record (this run's included).
	for _, p := range pend {
		if err := r.processPending(ctx, p, lk, u, res, progress); err != nil {
			return nil, err
		}
	}
	// Index files were replaced: bring this process's cache up to date
	// (SyncIndex rebuilds it when an index file it knew is gone).
	if err := r.SyncIndex(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

func (r *Repository) savePending(ctx context.Context, p *PendingDeletion) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	id, err := r.saveHashed(ctx, backend.LockFile, b)
	if err != nil {
		return fmt.Errorf("save pending deletion record: %w", err)
	}
	p.file = id
	return nil
}

// repack copies the blobs want returns for each of the given packs,
// verified, into new packs and writes index files for them (several when
// they would exceed the size limit of one).
func (r *Repository) repack(ctx context.Context, packs []ID, want func(ID) ([]pack.Entry, error), res *PruneResult) ([]ID, error) {
	var idx index.File
	var buf bytes.Buffer
	var w *pack.Writer
	flush := func() error {
		if w == nil || w.Count() == 0 {
			return nil
		}
		entries, err := w.Finalize()
		if err != nil {
			return fmt.Errorf("finalize pack: %w", err)
		}
		data := buf.Bytes()
		id, err := pack.Name(data)
		if err != nil {
			return fmt.Errorf("name pack: %w", err)
		}
		if err := r.be.Save(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, backend.NewByteReader(data)); err != nil {
			return fmt.Errorf("save pack %s: %w", id.Short(), err)
		}
		res.NewPacks++
		res.NewBytes += int64(len(data))
		idx.Packs = append(idx.Packs, index.PackBlobs{Pack: id, Entries: entries})
		w = nil
		buf = bytes.Buffer{}
		return nil
	}
	for _, pid := range packs {
		want, err := want(pid)
		if err != nil {
			return nil, err
		}
		// Blob by blob in one pass: memory is one blob, not the pack.
		err = r.verifyPackBlobs(ctx, pid, packEnd(want), want, func(c blobCheck) error {
			if c.Err != nil {
				return fmt.Errorf("repack: %w (run check; nothing was deleted)", c.Err)
			}
			if w == nil {
				w = pack.NewWriter(&buf, r.key.AEAD())
			}
			e := c.Entry
			if err := w.Add(e.BlobHandle, e.Compression, c.Sealed, int(e.RawLength)); err != nil {
				return fmt.Errorf("repack: add blob: %w", err)
			}
			if w.Size() >= int64(r.cfg.PackSize) || w.Count() >= pack.MaxEntries {
				return flush()
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("repack pack %s: %w", pid.Short(), err)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	iw := r.newIndexWriter(nil)
	for _, p := range idx.Packs {
		if err := iw.add(ctx, p); err != nil {
			return nil, err
		}
	}
	err := iw.finish(ctx)
	return iw.ids, err
}

// An indexWriter stores packs as index files of at most indexFlushEntries
// entries each, far below the plaintext limit of a sealed file
// (docs/FORMAT.md §11.5: a merged index of millions of blobs would exceed
// it), and merges them into the cache. Only the last file names
// supersedes: the files it replaces may be deleted only once every part
// is stored.
type indexWriter struct {
	r          *Repository
	cur        *index.File
	n          int
	supersedes []ID
	ids        []ID // written
}

func (r *Repository) newIndexWriter(supersedes []ID) *indexWriter {
	return &indexWriter{r: r, cur: &index.File{}, supersedes: supersedes}
}

// indexFileEntries bounds the entries of an index file an indexWriter
// writes (a variable for tests).
var indexFileEntries = indexFlushEntries

func (w *indexWriter) add(ctx context.Context, p index.PackBlobs) error {
	if w.n > 0 && w.n+len(p.Entries) > indexFileEntries {
		if err := w.flush(ctx, false); err != nil {
			return err
		}
	}
	w.cur.Packs = append(w.cur.Packs, p)
	w.n += len(p.Entries)
	return nil
}

func (w *indexWriter) flush(ctx context.Context, last bool) error {
	if last {
		w.cur.Supersedes = w.supersedes
	}
	if len(w.cur.Packs) == 0 {
		return nil // nothing (left) to list: the superseded files just go
	}
	id, err := w.r.SaveIndexFile(ctx, w.cur)
	if err != nil {
		return err
	}
	w.ids = append(w.ids, id)
	if err := w.r.cache.MergeIndexFile(ctx, id, w.cur); err != nil {
		return err
	}
	w.cur, w.n = &index.File{}, 0
	return nil
}

func (w *indexWriter) finish(ctx context.Context) error { return w.flush(ctx, true) }

// processPending completes a record if needed, and deletes its packs when
// every lock it names is gone or stale, rescuing packs that snapshots
// written meanwhile need.
func (r *Repository) processPending(ctx context.Context, p *PendingDeletion, lk *Lock, u *usedSet, res *PruneResult, progress func(string, ...any)) error {
	if p.Locks == nil {
		// Complete the record: the locks alive now were possibly taken
		// before the record was visible; every later writer sees it.
		states, _, err := r.lockStatesNow(ctx, lk)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		c := *p
		c.Locks = []SeenLock{}
		for _, l := range states {
			if l.Session == lk.info.Session || l.stale != "" {
				continue
			}
			c.Locks = append(c.Locks, SeenLock{Session: l.Session, File: l.file, Host: l.Host, PID: l.PID, Seen: now})
		}
		if err := r.replacePending(ctx, p, &c); err != nil {
			return err
		}
	}
	// Are the processes that may reference condemned packs gone? Judged
	// as in §10.1 (storage clock, PID only within one kernel and PID
	// namespace); a backend without modification times falls back to
	// "the same file seen more than the stale timeout ago".
	states, storageNow, err := r.lockStatesNow(ctx, lk)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	var alive []string
	for _, s := range p.Locks {
		for _, l := range states {
			if l.Session != s.Session {
				continue
			}
			stale := l.stale != ""
			if storageNow.IsZero() && l.file == s.File && now.Sub(s.Seen) > LockStaleTimeout {
				stale = true // not refreshed for the stale timeout by the pruners' clocks
			}
			if !stale {
				alive = append(alive, fmt.Sprintf("%s on %s (pid %d)", l.Purpose, l.Host, l.PID))
			}
			break
		}
	}
	if len(alive) == 0 {
		alive = liveReaders(states, lk)
	}
	if len(alive) > 0 {
		deferPending(p.Packs, res)
		res.DeferredReason = fmt.Sprintf("still running since the packs were condemned: %v; the next prune after they finish deletes them", alive)
		return nil
	}
	// Everything those processes wrote is visible now: see the snapshots
	// and index files again (snapshots first: see addSnapshots).
	snapIDs, err := r.SnapshotIDs(ctx)
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	ri, err := r.loadRepoIndex(ctx, nil)
	if err != nil {
		return err
	}
	defer ri.close()
	if _, err := r.addSnapshots(ctx, ri, u, snapIDs); err != nil {
		return err
	}
	sizes, err := r.packSizes(ctx)
	if err != nil {
		return err
	}
	doomed := map[ID]bool{}
	for _, c := range p.Packs {
		if _, ok, err := ri.t.FindPack(c.ID); err != nil {
			return err
		} else if !c.Indexed && ok {
			continue // adopted by its writer's index file meanwhile
		}
		doomed[c.ID] = true
	}
	// Rescue: a used blob must keep a copy outside the doomed packs (one
	// merge pass: rescuing a pack only adds copies).
	st, err := packStates(ri, sizes, doomed)
	if err != nil {
		return err
	}
	var rescued []index.PackInfo
	cur := ri.t.BlobCursor()
	err = u.set.ForEach(func(h pack.BlobHandle) error {
		holders, err := cur.Seek(h)
		if err != nil || keeper(holders, st) >= 0 {
			return err
		}
		for _, hd := range holders {
			if st[hd.Pack] == packPresent|packCondemned {
				st[hd.Pack] = packPresent
				pi, err := ri.t.Pack(hd.Pack)
				if err != nil {
					return err
				}
				delete(doomed, pi.ID)
				rescued = append(rescued, pi)
				break
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(rescued) > 0 {
		// Re-list the rescued packs in a new index file, so caches that
		// dropped them (PrepareWrite) learn them again.
		w := r.newIndexWriter(nil)
		for _, pi := range rescued {
			entries, err := ri.t.PackEntries(pi)
			if err != nil {
				return err
			}
			if err := w.add(ctx, index.PackBlobs{Pack: pi.ID, Entries: entries}); err != nil {
				return err
			}
		}
		if err := w.finish(ctx); err != nil {
			return err
		}
		res.RescuedPacks += len(rescued)
	}
	// Index first: rewrite the index files that list doomed packs, one
	// at a time, into files of bounded size.
	affected := map[ID]bool{}
	for pid := range doomed {
		pi, ok, err := ri.t.FindPack(pid)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		files, err := ri.t.PackFiles(pi)
		if err != nil {
			return err
		}
		for _, f := range files {
			affected[f] = true
		}
	}
	if len(affected) > 0 {
		var sup []ID
		for fid := range affected {
			sup = append(sup, fid)
		}
		sort.Slice(sup, func(i, j int) bool { return bytes.Compare(sup[i][:], sup[j][:]) < 0 })
		w := r.newIndexWriter(sup)
		for _, fid := range sup {
			f, err := r.LoadIndexFile(ctx, fid)
			if err != nil {
				return err
			}
			for _, pb := range f.Packs {
				if doomed[pb.Pack] {
					continue
				}
				// A pack several affected files list is written once,
				// from the first of them.
				pi, ok, err := ri.t.FindPack(pb.Pack)
				if err != nil {
					return err
				}
				if ok {
					files, err := ri.t.PackFiles(pi)
					if err != nil {
						return err
					}
					first := fid
					for _, o := range files {
						if affected[o] {
							first = o
							break
						}
					}
					if first != fid {
						continue
					}
				}
				if err := w.add(ctx, pb); err != nil {
					return err
				}
			}
		}
		if err := w.finish(ctx); err != nil {
			return err
		}
		for _, fid := range sup {
			err := r.be.Remove(ctx, backend.Handle{Type: backend.IndexFile, Name: fid.String()})
			if err != nil && !errors.Is(err, backend.ErrNotFound) {
				return fmt.Errorf("remove index %s: %w", fid.Short(), err)
			}
			res.DeletedIndex++
		}
	}
	// A reader that stored its lock after the listing above syncs its
	// cache after storing it, so it sees the index files just written;
	// one that stored it before may still look for a doomed pack: leave
	// the doomed packs (now unindexed) to a later run.
	if states, _, err := r.lockStatesNow(ctx, lk); err != nil {
		return err
	} else if readers := liveReaders(states, lk); len(readers) > 0 {
		c := *p
		c.Packs = nil
		for _, cp := range p.Packs {
			if doomed[cp.ID] {
				c.Packs = append(c.Packs, cp)
			}
		}
		if err := r.replacePending(ctx, p, &c); err != nil {
			return err
		}
		deferPending(c.Packs, res)
		res.DeferredReason = fmt.Sprintf("still reading the repository: %v; the next prune after they finish deletes them", readers)
		return nil
	}
	progress("deleting %d packs", len(doomed))
	for pid := range doomed {
		size, present := sizes[pid]
		if !present {
			continue
		}
		err := r.be.Remove(ctx, backend.Handle{Type: backend.PackFile, Name: pid.String()})
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return fmt.Errorf("remove pack %s: %w", pid.Short(), err)
		}
		res.DeletedPacks++
		res.FreedBytes += size
	}
	return r.removeLockFile(ctx, p.file)
}

// liveReaders names the live reader locks (restore, check, ...) other than
// lk: they may read any indexed pack, so doomed packs wait for them.
func liveReaders(states []*lockState, lk *Lock) []string {
	var alive []string
	for _, l := range states {
		if l.Reader && l.stale == "" && l.Session != lk.info.Session {
			alive = append(alive, fmt.Sprintf("%s on %s (pid %d)", l.Purpose, l.Host, l.PID))
		}
	}
	return alive
}

// deferPending counts packs whose deletion waits for a later run.
func deferPending(packs []CondemnedPack, res *PruneResult) {
	for _, c := range packs {
		res.DeferredPacks++
		res.DeferredBytes += c.Size
	}
}

// replacePending stores c (a new version of p) and removes p.
func (r *Repository) replacePending(ctx context.Context, p, c *PendingDeletion) error {
	if err := r.savePending(ctx, c); err != nil {
		return err
	}
	if err := r.removeLockFile(ctx, p.file); err != nil {
		return err
	}
	*p = *c
	return nil
}

// PendingDeletions lists the pending deletion records.
func (r *Repository) PendingDeletions(ctx context.Context) ([]*PendingDeletion, error) {
	_, p, err := r.loadLockDir(ctx, nil)
	return p, err
}
