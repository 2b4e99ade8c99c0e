package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
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
// local cache): prune and repair must see every pack, condemned or not.
type repoIndex struct {
	files map[ID]*index.File
	packs map[ID][]pack.Entry      // first listing wins
	blobs map[pack.BlobHandle][]ID // packs holding each blob
	where map[ID][]ID              // pack -> index files listing it
}

func (r *Repository) loadRepoIndex(ctx context.Context) (*repoIndex, error) {
	ri := &repoIndex{files: map[ID]*index.File{}, packs: map[ID][]pack.Entry{}, blobs: map[pack.BlobHandle][]ID{}, where: map[ID][]ID{}}
	var ids []ID
	err := r.be.List(ctx, backend.IndexFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list index files: %w", err)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	for _, id := range ids {
		f, err := r.LoadIndexFile(ctx, id)
		if errors.Is(err, backend.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ri.files[id] = f
		for _, p := range f.Packs {
			ri.where[p.Pack] = append(ri.where[p.Pack], id)
			if _, ok := ri.packs[p.Pack]; ok {
				continue
			}
			ri.packs[p.Pack] = p.Entries
			for _, e := range p.Entries {
				ri.blobs[e.BlobHandle] = append(ri.blobs[e.BlobHandle], p.Pack)
			}
		}
	}
	return ri, nil
}

func (ri *repoIndex) entry(h pack.BlobHandle, packID ID) (pack.Entry, bool) {
	for _, e := range ri.packs[packID] {
		if e.BlobHandle == h {
			return e, true
		}
	}
	return pack.Entry{}, false
}

// loadTree loads a tree through ri (trying every pack that holds it).
func (r *Repository) loadTreeVia(ctx context.Context, ri *repoIndex, id ID) (*Tree, error) {
	h := pack.BlobHandle{ID: id, Type: pack.TreeBlob}
	var lastErr error = fmt.Errorf("tree %s: %w", id.Short(), ErrBlobNotFound)
	for _, p := range ri.blobs[h] {
		e, _ := ri.entry(h, p)
		loc := index.Location{Pack: p, Compression: e.Compression, Offset: e.Offset, Length: e.Length, RawLength: e.RawLength}
		b, err := r.loadBlobAt(ctx, h, loc, nil)
		if err != nil {
			lastErr = err
			continue
		}
		return DecodeTree(b)
	}
	return nil, lastErr
}

// usedSet is the set of blobs referenced by the snapshots walked so far.
type usedSet struct {
	blobs map[pack.BlobHandle]struct{}
	snaps map[ID]bool
}

// addSnapshots walks every snapshot not walked yet. Any snapshot or tree that
// cannot be read is an error: prune never deletes when unsure.
func (r *Repository) addSnapshots(ctx context.Context, ri *repoIndex, u *usedSet) (int, error) {
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("list snapshots: %w", err)
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
			return 0, fmt.Errorf("%w (run check, then repair snapshots or forget it)", err)
		}
		if err := r.markTree(ctx, ri, u, sn.Tree); err != nil {
			return 0, fmt.Errorf("snapshot %s: %w (run check and repair snapshots first)", id.Short(), err)
		}
		u.snaps[id] = true
	}
	return len(ids), nil
}

func (r *Repository) markTree(ctx context.Context, ri *repoIndex, u *usedSet, id ID) error {
	h := pack.BlobHandle{ID: id, Type: pack.TreeBlob}
	if _, ok := u.blobs[h]; ok {
		return nil
	}
	t, err := r.loadTreeVia(ctx, ri, id)
	if err != nil {
		return err
	}
	u.blobs[h] = struct{}{}
	for _, n := range t.Nodes {
		for _, c := range n.Content {
			u.blobs[pack.BlobHandle{ID: c, Type: pack.DataBlob}] = struct{}{}
		}
		if n.Subtree != nil {
			if err := r.markTree(ctx, ri, u, *n.Subtree); err != nil {
				return err
			}
		}
	}
	return nil
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
	progress("loading index")
	ri, err := r.loadRepoIndex(ctx)
	if err != nil {
		return nil, err
	}
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
	u := &usedSet{blobs: map[pack.BlobHandle]struct{}{}, snaps: map[ID]bool{}}
	if res.Snapshots, err = r.addSnapshots(ctx, ri, u); err != nil {
		return nil, err
	}
	res.UsedBlobs = len(u.blobs)
	for h := range u.blobs {
		if len(ri.blobs[h]) == 0 {
			return nil, fmt.Errorf("%s blob %s is used by a snapshot but in no index file: %w (run check, then repair index)", h.Type, h.ID.Short(), ErrBlobNotFound)
		}
	}

	// Plan: every used blob keeps one copy, preferring packs that are not
	// condemned and packs that stay whole.
	packIDs := make([]ID, 0, len(ri.packs))
	for id := range ri.packs {
		if _, ok := sizes[id]; ok {
			packIDs = append(packIDs, id)
		}
	}
	sort.Slice(packIDs, func(i, j int) bool { return bytes.Compare(packIDs[i][:], packIDs[j][:]) < 0 })
	kept := map[pack.BlobHandle]ID{}
	usedBytes := map[ID]int64{}
	for _, pid := range packIDs {
		if condemned[pid] {
			continue
		}
		for _, e := range ri.packs[pid] {
			if _, ok := u.blobs[e.BlobHandle]; !ok {
				continue
			}
			if _, ok := kept[e.BlobHandle]; ok {
				continue
			}
			kept[e.BlobHandle] = pid
			usedBytes[pid] += int64(e.Length)
		}
	}
	for id, size := range sizes {
		res.PacksTotal++
		res.BytesTotal += size
		if _, ok := ri.packs[id]; !ok && !condemned[id] {
			res.UnindexedPacks++
		}
	}
	var newCond []CondemnedPack
	var partial []ID
	var unusedTotal int64
	unusedBytes := map[ID]int64{}
	for _, pid := range packIDs {
		if condemned[pid] {
			continue
		}
		for _, e := range ri.packs[pid] {
			if kept[e.BlobHandle] != pid {
				res.UnusedBlobs++
				res.UnusedBytes += int64(e.Length)
				unusedBytes[pid] += int64(e.Length)
			}
		}
		if usedBytes[pid] == 0 {
			newCond = append(newCond, CondemnedPack{ID: pid, Size: sizes[pid], Indexed: true})
			continue
		}
		if un := unusedBytes[pid]; un > 0 {
			partial = append(partial, pid)
			unusedTotal += un
		}
	}
	for id, size := range sizes {
		if _, ok := ri.packs[id]; !ok && !condemned[id] {
			newCond = append(newCond, CondemnedPack{ID: id, Size: size, Indexed: false})
		}
	}
	// Repack partially used packs, most wasteful first, until the unused
	// bytes left are within MaxUnusedPercent of the total.
	sort.Slice(partial, func(i, j int) bool {
		ui, uj := unusedBytes[partial[i]], unusedBytes[partial[j]]
		if ui*sizes[partial[j]] != uj*sizes[partial[i]] {
			return ui*sizes[partial[j]] > uj*sizes[partial[i]]
		}
		return bytes.Compare(partial[i][:], partial[j][:]) < 0
	})
	var total int64
	for _, c := range newCond {
		total -= c.Size
	}
	total += res.BytesTotal
	var repack []ID
	for _, pid := range partial {
		if opts.MaxUnusedPercent >= 0 && float64(unusedTotal) <= opts.MaxUnusedPercent/100*float64(total) {
			break
		}
		if opts.MaxRepackBytes > 0 && res.RepackedBytes+sizes[pid] > opts.MaxRepackBytes {
			continue
		}
		repack = append(repack, pid)
		res.RepackedBytes += sizes[pid]
		unusedTotal -= unusedBytes[pid]
	}
	res.RepackedPacks = len(repack)
	for _, c := range newCond {
		res.CondemnedPacks++
		res.CondemnedBytes += c.Size
	}
	for _, pid := range repack {
		res.CondemnedPacks++
		res.CondemnedBytes += sizes[pid]
	}
	if opts.DryRun {
		return res, nil
	}

	// Phase 1: copy the kept blobs of repacked packs, index them, then
	// condemn.
	if len(repack) > 0 {
		progress("repacking %d packs", len(repack))
		if err := r.repack(ctx, ri, repack, kept, res); err != nil {
			return nil, err
		}
		for _, pid := range repack {
			newCond = append(newCond, CondemnedPack{ID: pid, Size: sizes[pid], Indexed: true})
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

// repack copies the kept blobs of the given packs, verified, into new packs
// and writes one index file for them.
func (r *Repository) repack(ctx context.Context, ri *repoIndex, packs []ID, kept map[pack.BlobHandle]ID, res *PruneResult) error {
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
		var want []pack.Entry
		for _, e := range ri.packs[pid] {
			if kept[e.BlobHandle] == pid {
				want = append(want, e)
			}
		}
		// Blob by blob in one pass: memory is one blob, not the pack.
		err := r.verifyPackBlobs(ctx, pid, packEnd(want), want, func(c blobCheck) error {
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
			return fmt.Errorf("repack pack %s: %w", pid.Short(), err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if len(idx.Packs) == 0 {
		return nil
	}
	id, err := r.SaveIndexFile(ctx, &idx)
	if err != nil {
		return err
	}
	ri.files[id] = &idx
	for _, p := range idx.Packs {
		ri.packs[p.Pack] = p.Entries
		ri.where[p.Pack] = append(ri.where[p.Pack], id)
		for _, e := range p.Entries {
			ri.blobs[e.BlobHandle] = append(ri.blobs[e.BlobHandle], p.Pack)
		}
	}
	return r.cache.MergeIndexFile(ctx, id, &idx)
}

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
	// and index files again.
	ri, err := r.loadRepoIndex(ctx)
	if err != nil {
		return err
	}
	if _, err := r.addSnapshots(ctx, ri, u); err != nil {
		return err
	}
	sizes, err := r.packSizes(ctx)
	if err != nil {
		return err
	}
	doomed := map[ID]bool{}
	for _, c := range p.Packs {
		if _, ok := ri.packs[c.ID]; !c.Indexed && ok {
			continue // adopted by its writer's index file meanwhile
		}
		doomed[c.ID] = true
	}
	// Rescue: a used blob must keep a copy outside the doomed packs.
	var rescued []ID
	for changed := true; changed; {
		changed = false
		for h := range u.blobs {
			holders := ri.blobs[h]
			ok := false
			for _, pid := range holders {
				if _, present := sizes[pid]; present && !doomed[pid] {
					ok = true
					break
				}
			}
			if ok {
				continue
			}
			for _, pid := range holders {
				if _, present := sizes[pid]; present && doomed[pid] {
					delete(doomed, pid)
					rescued = append(rescued, pid)
					changed = true
					break
				}
			}
		}
	}
	if len(rescued) > 0 {
		// Re-list the rescued packs in a new index file, so caches that
		// dropped them (PrepareWrite) learn them again.
		f := &index.File{}
		for _, pid := range rescued {
			f.Packs = append(f.Packs, index.PackBlobs{Pack: pid, Entries: ri.packs[pid]})
		}
		if _, err := r.SaveIndexFile(ctx, f); err != nil {
			return err
		}
		res.RescuedPacks += len(rescued)
	}
	// Index first: rewrite the index files that list doomed packs.
	affected := map[ID]bool{}
	for pid := range doomed {
		for _, f := range ri.where[pid] {
			affected[f] = true
		}
	}
	if len(affected) > 0 {
		nf := &index.File{}
		seen := map[ID]bool{}
		for fid := range affected {
			nf.Supersedes = append(nf.Supersedes, fid)
			for _, pb := range ri.files[fid].Packs {
				if doomed[pb.Pack] || seen[pb.Pack] {
					continue
				}
				seen[pb.Pack] = true
				nf.Packs = append(nf.Packs, pb)
			}
		}
		sort.Slice(nf.Supersedes, func(i, j int) bool { return bytes.Compare(nf.Supersedes[i][:], nf.Supersedes[j][:]) < 0 })
		if len(nf.Packs) > 0 {
			if _, err := r.SaveIndexFile(ctx, nf); err != nil {
				return err
			}
		}
		for _, fid := range nf.Supersedes {
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
