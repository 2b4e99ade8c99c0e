package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// RepairIndexOptions configure RepairIndex.
type RepairIndexOptions struct {
	// ReadData reads every pack completely and leaves blobs that fail to
	// verify out of the new index (repair snapshots then marks the files
	// that used them, and the next backup stores them again).
	ReadData bool
	DryRun   bool
}

// RepairIndexResult reports what RepairIndex did.
type RepairIndexResult struct {
	DryRun         bool     `json:"dry_run"`
	Packs          int      `json:"packs"`
	Blobs          int      `json:"blobs"`
	AdoptedPacks   int      `json:"adopted_packs"`    // packs no index file listed
	UnreadablePack []string `json:"unreadable_packs"` // header unreadable: blobs lost
	DroppedBlobs   int      `json:"dropped_blobs"`    // failed verification (ReadData)
	OldIndexFiles  int      `json:"old_index_files"`
	NewIndexFiles  int      `json:"new_index_files"`
	CancelledPacks int      `json:"cancelled_pending_deletions"`
	SalvagedPacks  []string `json:"salvaged_packs"` // damaged: intact blobs copied out, pack left out of the index

}

// RepairIndex rebuilds the repository index from the pack headers: it
// writes new index files listing every readable pack (adopting packs no
// index lists), then removes every old index file. Pending deletions are
// cancelled, because adopted packs may be condemned ones (docs/FORMAT.md
// §10). It takes the exclusive lock.
func (r *Repository) RepairIndex(ctx context.Context, opts RepairIndexOptions) (*RepairIndexResult, error) {
	res := &RepairIndexResult{DryRun: opts.DryRun}
	if !opts.DryRun {
		lk, err := r.Lock(ctx, LockOptions{Exclusive: true, Purpose: "repair index"})
		if err != nil {
			return nil, err
		}
		defer lk.Unlock()
		ctx = lk.Context()
	}
	sizes, err := r.packSizes(ctx)
	if err != nil {
		return nil, err
	}
	var oldIdx []ID
	listed := map[ID]bool{}
	err = r.be.List(ctx, backend.IndexFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			oldIdx = append(oldIdx, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list index files: %w", err)
	}
	for _, id := range oldIdx {
		if f, err := r.LoadIndexFile(ctx, id); err == nil {
			for _, p := range f.Packs {
				listed[p.Pack] = true
			}
		}
	}
	res.OldIndexFiles = len(oldIdx)
	ids := make([]ID, 0, len(sizes))
	for id := range sizes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	type result struct {
		entries []pack.Entry
		err     error
		dropped int
		salvage bool // content does not match the name: copy the good blobs out
	}
	results := make([]result, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, r.be.Properties().Connections))
	for i, id := range ids {
		g.Go(func() error {
			results[i].entries, results[i].dropped, results[i].salvage, results[i].err = r.readPackEntries(gctx, id, sizes[id], opts.ReadData)
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var files []*index.File
	cur := &index.File{}
	n := 0
	salvage := &repoIndex{files: map[ID]*index.File{}, packs: map[ID][]pack.Entry{}, blobs: map[pack.BlobHandle][]ID{}, where: map[ID][]ID{}}
	salvageKept := map[pack.BlobHandle]ID{}
	var salvageIDs []ID
	for i, id := range ids {
		rs := results[i]
		if rs.err != nil {
			res.UnreadablePack = append(res.UnreadablePack, id.String())
			continue
		}
		if rs.salvage {
			// A damaged pack leaves the index: its intact blobs move to a
			// new pack, the pack itself is left for prune to delete.
			res.DroppedBlobs += rs.dropped
			res.SalvagedPacks = append(res.SalvagedPacks, id.String())
			salvage.packs[id] = rs.entries
			for _, e := range rs.entries {
				if _, ok := salvageKept[e.BlobHandle]; !ok {
					salvageKept[e.BlobHandle] = id
				}
			}
			salvageIDs = append(salvageIDs, id)
			continue
		}
		res.DroppedBlobs += rs.dropped
		if len(rs.entries) == 0 {
			continue
		}
		res.Packs++
		res.Blobs += len(rs.entries)
		if !listed[id] {
			res.AdoptedPacks++
		}
		cur.Packs = append(cur.Packs, index.PackBlobs{Pack: id, Entries: rs.entries})
		if n += len(rs.entries); n >= indexFlushEntries {
			files = append(files, cur)
			cur, n = &index.File{}, 0
		}
	}
	if len(cur.Packs) > 0 {
		files = append(files, cur)
	}
	res.NewIndexFiles = len(files)
	pend, err := r.PendingDeletions(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pend {
		res.CancelledPacks += len(p.Packs)
	}
	if opts.DryRun {
		return res, nil
	}
	// Pending deletions first: the new index may list condemned packs, and
	// a writer that sees them must not be told they are going away later.
	for _, p := range pend {
		if err := r.removeLockFile(ctx, p.file); err != nil {
			return nil, err
		}
	}
	if len(salvageIDs) > 0 {
		if err := r.repack(ctx, salvage, salvageIDs, salvageKept, &PruneResult{}); err != nil {
			return nil, fmt.Errorf("salvage damaged packs: %w", err)
		}
	}
	newIDs := map[ID]bool{}
	for i, f := range files {
		if i == 0 {
			f.Supersedes = oldIdx
		}
		id, err := r.SaveIndexFile(ctx, f)
		if err != nil {
			return nil, err
		}
		newIDs[id] = true
	}
	for _, id := range oldIdx {
		if newIDs[id] {
			continue // identical content: same name
		}
		err := r.be.Remove(ctx, backend.Handle{Type: backend.IndexFile, Name: id.String()})
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return nil, fmt.Errorf("remove index %s: %w", id.Short(), err)
		}
	}
	if err := r.SyncIndex(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// readPackEntries reads a pack's header (and with readData verifies every
// blob, leaving failures out).
func (r *Repository) readPackEntries(ctx context.Context, id ID, size int64, readData bool) ([]pack.Entry, int, bool, error) {
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	if !readData {
		entries, err := pack.ReadHeader(r.key.AEAD(), &packReaderAt{ctx: ctx, be: r.be, h: h}, size)
		return entries, 0, false, err
	}
	data, err := backend.LoadAll(ctx, r.be, h)
	if err != nil {
		return nil, 0, false, err
	}
	name, nerr := pack.Name(data)
	damaged := nerr != nil || name != id
	entries, err := pack.ReadHeader(r.key.AEAD(), bytesReaderAt(data), int64(len(data)))
	if err != nil {
		return nil, 0, damaged, err
	}
	var good []pack.Entry
	dropped := 0
	for _, e := range entries {
		end := int64(e.Offset) + int64(e.Length)
		if end > int64(len(data)) {
			dropped++
			continue
		}
		if _, err := r.decodeBlob(e, id, data[e.Offset:end], nil); err != nil {
			dropped++
			continue
		}
		good = append(good, e)
	}
	return good, dropped, damaged, nil
}

// RepairSnapshotsOptions configure RepairSnapshots.
type RepairSnapshotsOptions struct {
	DryRun bool
	// Damaged blobs beyond those missing from the index (e.g. from
	// Check with ReadData).
	Damaged []pack.BlobHandle
}

// RepairedSnapshot describes one rewritten (or unreadable) snapshot.
type RepairedSnapshot struct {
	Old          string   `json:"old"`
	New          string   `json:"new,omitempty"`
	DamagedFiles []string `json:"damaged_files"`
	Removed      bool     `json:"removed,omitempty"` // unreadable, deleted
	Error        string   `json:"error,omitempty"`
}

// RepairMetadataKey is the snapshot Metadata key a repaired snapshot carries.
const RepairMetadataKey = "repair"

// RepairInfo is the value stored under RepairMetadataKey.
type RepairInfo struct {
	Original     string    `json:"original"`
	Time         time.Time `json:"time"`
	DamagedFiles []string  `json:"damaged_files"`
}

// RepairSnapshots rewrites every snapshot that references a missing or
// damaged blob: a file loses the damaged blobs (its size shrinks
// accordingly) and is renamed "<name>.damaged"; a directory whose tree is
// missing becomes an empty directory "<name>.damaged". The new snapshot
// carries the tag "repaired" and RepairInfo; the old one is removed after
// the new one is stored. Snapshot files that fail authentication are
// removed (they can never be read again). Takes the exclusive lock.
func (r *Repository) RepairSnapshots(ctx context.Context, opts RepairSnapshotsOptions) ([]RepairedSnapshot, error) {
	if !opts.DryRun {
		lk, err := r.Lock(ctx, LockOptions{Exclusive: true, Purpose: "repair snapshots"})
		if err != nil {
			return nil, err
		}
		defer lk.Unlock()
		ctx = lk.Context()
	}
	ri, err := r.loadRepoIndex(ctx)
	if err != nil {
		return nil, err
	}
	bad := map[pack.BlobHandle]bool{}
	for _, h := range opts.Damaged {
		bad[h] = true
	}
	ok := func(h pack.BlobHandle) bool { return !bad[h] && len(ri.blobs[h]) > 0 }
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	var out []RepairedSnapshot
	for _, id := range ids {
		sn, err := r.LoadSnapshot(ctx, id)
		if err != nil {
			rs := RepairedSnapshot{Old: id.String(), Error: err.Error()}
			if errors.Is(err, ErrCorrupt) {
				rs.Removed = true
				if !opts.DryRun {
					if err := r.be.Remove(ctx, backend.Handle{Type: backend.SnapshotFile, Name: id.String()}); err != nil && !errors.Is(err, backend.ErrNotFound) {
						return out, fmt.Errorf("remove snapshot %s: %w", id.Short(), err)
					}
				}
			}
			out = append(out, rs)
			continue
		}
		rt := &treeRepairer{r: r, ri: ri, ok: ok, dry: opts.DryRun, memo: map[ID]ID{}}
		var newRoot ID
		err = r.WithUploader(ctx, func(ctx context.Context, up *Uploader) error {
			rt.up = up
			var err error
			newRoot, err = rt.tree(ctx, sn.Tree, "/")
			return err
		})
		if errors.Is(err, errMissingTree) {
			out = append(out, RepairedSnapshot{Old: id.String(), Error: "its root tree is missing or damaged: nothing to keep; forget it"})
			continue
		}
		if err != nil {
			return out, err
		}
		if len(rt.damaged) == 0 {
			continue
		}
		rs := RepairedSnapshot{Old: id.String(), DamagedFiles: rt.damaged}
		if !opts.DryRun {
			ns := *sn
			ns.Tree = newRoot
			ns.Tags = append(append([]string(nil), sn.Tags...), "repaired")
			ns.Metadata = map[string]json.RawMessage{}
			for k, v := range sn.Metadata {
				ns.Metadata[k] = v
			}
			info, _ := json.Marshal(RepairInfo{Original: id.String(), Time: time.Now().UTC(), DamagedFiles: rt.damaged})
			ns.Metadata[RepairMetadataKey] = info
			nid, err := r.SaveSnapshot(ctx, &ns)
			if err != nil {
				return out, err
			}
			rs.New = nid.String()
			if err := r.be.Remove(ctx, backend.Handle{Type: backend.SnapshotFile, Name: id.String()}); err != nil && !errors.Is(err, backend.ErrNotFound) {
				return out, fmt.Errorf("remove snapshot %s: %w", id.Short(), err)
			}
		}
		out = append(out, rs)
	}
	return out, nil
}

type treeRepairer struct {
	r       *Repository
	ri      *repoIndex
	up      *Uploader
	ok      func(pack.BlobHandle) bool
	dry     bool
	memo    map[ID]ID // trees without damage map to themselves
	damaged []string
}

// tree returns the ID of the repaired version of tree id at path p.
func (t *treeRepairer) tree(ctx context.Context, id ID, p string) (ID, error) {
	tr, err := t.r.loadTreeVia(ctx, t.ri, id)
	if err != nil || !t.ok(pack.BlobHandle{ID: id, Type: pack.TreeBlob}) {
		return ID{}, errMissingTree
	}
	changed := false
	var nodes []*Node
	names := map[string]bool{}
	for _, n := range tr.Nodes {
		names[n.FileName()] = true
	}
	for _, n := range tr.Nodes {
		nn := *n
		np := p + n.FileName()
		switch {
		case n.Type == NodeDir && n.Subtree != nil:
			sub, err := t.tree(ctx, *n.Subtree, np+"/")
			if errors.Is(err, errMissingTree) {
				t.damaged = append(t.damaged, np+"/")
				empty, err := t.save(ctx, &Tree{Nodes: []*Node{}})
				if err != nil {
					return ID{}, err
				}
				nn.Subtree = &empty
				nn.SetName(damagedName(n.FileName(), names))
				changed = true
			} else if err != nil {
				return ID{}, err
			} else if sub != *n.Subtree {
				nn.Subtree = &sub
				changed = true
			}
		case len(n.Content) > 0:
			var keep []ID
			var size uint64
			lost := false
			for _, c := range n.Content {
				h := pack.BlobHandle{ID: c, Type: pack.DataBlob}
				if !t.ok(h) {
					lost = true
					continue
				}
				keep = append(keep, c)
				if ps := t.ri.blobs[h]; len(ps) > 0 {
					if e, ok := t.ri.entry(h, ps[0]); ok {
						size += uint64(e.RawLength)
					}
				}
			}
			if lost {
				t.damaged = append(t.damaged, np)
				nn.Content = keep
				nn.Size = size
				nn.SetName(damagedName(n.FileName(), names))
				changed = true
			}
		}
		nodes = append(nodes, &nn)
	}
	if !changed {
		return id, nil
	}
	nt := &Tree{Nodes: nodes}
	nt.Sort()
	return t.save(ctx, nt)
}

func (t *treeRepairer) save(ctx context.Context, tr *Tree) (ID, error) {
	if t.dry {
		b, err := EncodeTree(tr)
		if err != nil {
			return ID{}, err
		}
		return t.r.key.BlobID(b), nil
	}
	return t.up.SaveTree(ctx, tr)
}

var errMissingTree = errors.New("repo: tree missing or damaged")

// damagedName returns name + ".damaged" (with a number if taken).
func damagedName(name string, taken map[string]bool) string {
	c := name + ".damaged"
	for i := 2; taken[c]; i++ {
		c = fmt.Sprintf("%s.damaged-%d", name, i)
	}
	taken[c] = true
	return c
}
