package repo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/data"
)

// RepairIndexOptions configure RepairIndex.
type RepairIndexOptions struct {
	// ReadData reads every pack completely and leaves blobs that fail to
	// verify out of the new index (repair snapshots then marks the files
	// that used them, and the next backup stores them again). Without it
	// only the blobs of damaged packs, and index entries the pack's header
	// does not list, are verified.
	ReadData bool
	DryRun   bool
}

// RepairIndexResult reports what RepairIndex did.
type RepairIndexResult struct {
	DryRun       bool `json:"dry_run"`
	Packs        int  `json:"packs"`
	Blobs        int  `json:"blobs"`
	AdoptedPacks int  `json:"adopted_packs"` // packs no index file listed
	// UnreadablePack lists damaged packs in which no blob authenticates:
	// their blobs are lost.
	UnreadablePack []string `json:"unreadable_packs"`
	DroppedBlobs   int      `json:"dropped_blobs"` // failed verification: left out
	OldIndexFiles  int      `json:"old_index_files"`
	NewIndexFiles  int      `json:"new_index_files"`
	CancelledPacks int      `json:"cancelled_pending_deletions"`
	// SalvagedPacks lists damaged packs (header unreadable, or content
	// that does not match the name): every blob in them that still
	// authenticates was copied into a new pack (SalvagedBlobs in all);
	// the damaged pack is left out of the index, for prune to delete.
	SalvagedPacks []string `json:"salvaged_packs"`
	SalvagedBlobs int      `json:"salvaged_blobs"`
	// UnverifiedPacks could not be read (an I/O error, not damage): their
	// index entries are kept as they were. Run repair index again once
	// they can be read.
	UnverifiedPacks []string `json:"unverified_packs"`
}

// packRebuild is what RepairIndex learnt about one pack.
type packRebuild struct {
	entries []pack.Entry // kept
	dropped int          // blobs that failed verification and are not kept
	rewrite bool         // damaged: copy the kept blobs into a new pack
	ioErr   error        // unreadable: entries are the old ones, unverified
}

// RepairIndex rebuilds the repository index from the packs: it writes new
// index files listing every readable pack (adopting packs no index lists),
// then removes every old index file. It never drops an entry whose blob
// still authenticates at its recorded place: for each pack, the entries of
// its header and of the old index files are candidates, and a candidate is
// left out only when it fails verification. A damaged pack (header
// unreadable, or content that does not match its name) has its
// authenticated blobs copied into a new pack and is left for prune to
// delete. Pending deletions are cancelled, because adopted packs may be
// condemned ones (docs/FORMAT.md §10). It takes the exclusive lock.
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
	oldIdx, _, err := r.listIndexFiles(ctx, nil)
	if err != nil {
		return nil, err
	}
	// The old index files' entries are candidates, verified against the
	// packs before they are kept, so a file is used if it authenticates
	// even under the wrong name (swapped, replayed). Every listing of a
	// pack counts (a table in union mode, on disk).
	rest := oldIdx
	next := func() (ID, *index.File, error) {
		for len(rest) > 0 {
			id := rest[0]
			rest = rest[1:]
			f, err := r.loadIndexAnyName(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return id, nil, ctx.Err()
				}
				continue
			}
			return id, f, nil
		}
		return ID{}, nil, io.EOF
	}
	old, err := index.BuildTableUnion(ctx, r.tableDir(), next)
	if err != nil {
		return nil, err
	}
	defer old.Close()
	oldEntries := func(id ID) ([]pack.Entry, error) {
		p, ok, err := old.FindPack(id)
		if err != nil || !ok {
			return nil, err
		}
		es, err := old.PackEntries(p)
		return appendNew(nil, es), err
	}
	res.OldIndexFiles = len(oldIdx)
	ids := make([]ID, 0, len(sizes))
	for id := range sizes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	// Packs are rebuilt in parallel, a window at a time; the entries to
	// index go to a spill file in pack order and their handles to an
	// on-disk set, so that memory does not grow with the repository.
	spill, err := os.CreateTemp(r.tableDir(), "repair-index-")
	if err != nil {
		return nil, fmt.Errorf("repair index: %w", err)
	}
	defer os.Remove(spill.Name())
	defer spill.Close()
	sw := bufio.NewWriterSize(spill, 64<<10)
	good, err := index.NewHandleSet(r.tableDir())
	if err != nil {
		return nil, err
	}
	defer good.Close()
	salvage := map[ID][]pack.Entry{}
	var salvageIDs []ID
	inFile := 0 // entries of the index file being counted (as indexWriter splits)
	const window = 256
	for w := 0; w < len(ids); w += window {
		win := ids[w:min(w+window, len(ids))]
		results := make([]packRebuild, len(win))
		olds := make([][]pack.Entry, len(win))
		for i, id := range win {
			if olds[i], err = oldEntries(id); err != nil {
				return nil, err
			}
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(max(2, r.be.Properties().Connections))
		for i, id := range win {
			g.Go(func() error {
				results[i] = r.rebuildPack(gctx, id, sizes[id], olds[i], opts.ReadData)
				return gctx.Err()
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		for i, id := range win {
			rs := results[i]
			res.DroppedBlobs += rs.dropped
			switch {
			case rs.ioErr != nil:
				res.UnverifiedPacks = append(res.UnverifiedPacks, id.String())
			case rs.rewrite:
				// Damaged: its authenticated blobs move to new packs.
				if len(rs.entries) == 0 {
					res.UnreadablePack = append(res.UnreadablePack, id.String())
				} else {
					res.SalvagedPacks = append(res.SalvagedPacks, id.String())
					salvage[id] = rs.entries
					salvageIDs = append(salvageIDs, id)
				}
				continue
			}
			if len(rs.entries) == 0 {
				continue
			}
			if len(olds[i]) == 0 {
				res.AdoptedPacks++
			}
			res.Packs++
			res.Blobs += len(rs.entries)
			if inFile > 0 && inFile+len(rs.entries) > indexFileEntries {
				res.NewIndexFiles++
				inFile = 0
			}
			inFile += len(rs.entries)
			if err := writeSpilledPack(sw, id, rs.entries); err != nil {
				return nil, err
			}
			for _, e := range rs.entries {
				if err := good.Add(e.BlobHandle); err != nil {
					return nil, err
				}
			}
		}
	}
	if inFile > 0 {
		res.NewIndexFiles++
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("repair index: %w", err)
	}
	if err := good.Freeze(nil); err != nil {
		return nil, err
	}
	// Salvaged blobs that no intact pack holds are copied (once).
	salvageKept := map[pack.BlobHandle]ID{}
	for _, id := range salvageIDs {
		for _, e := range salvage[id] {
			if _, ok := salvageKept[e.BlobHandle]; ok {
				continue
			}
			if has, err := good.Has(e.BlobHandle); err != nil {
				return nil, err
			} else if !has {
				salvageKept[e.BlobHandle] = id
				res.SalvagedBlobs++
			}
		}
	}
	if res.SalvagedBlobs > 0 {
		res.NewIndexFiles++ // repack writes one for the new packs
	}
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
	// Salvaged blobs are stored (packs, then their index file) before any
	// old index file goes: an interruption leaves the old index in place.
	newIDs := map[ID]bool{}
	if len(salvageKept) > 0 {
		want := func(pid ID) ([]pack.Entry, error) {
			var out []pack.Entry
			for _, e := range salvage[pid] {
				if salvageKept[e.BlobHandle] == pid {
					out = append(out, e)
				}
			}
			return out, nil
		}
		ids, err := r.repack(ctx, salvageIDs, want, &PruneResult{})
		if err != nil {
			return nil, fmt.Errorf("salvage damaged packs: %w", err)
		}
		for _, id := range ids {
			newIDs[id] = true
		}
	}
	iw := r.newIndexWriter(oldIdx)
	rd := bufio.NewReaderSize(io.NewSectionReader(spill, 0, 1<<62), 64<<10)
	for {
		id, entries, err := readSpilledPack(rd)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("repair index: %w", err)
		}
		if err := iw.add(ctx, index.PackBlobs{Pack: id, Entries: entries}); err != nil {
			return nil, err
		}
	}
	if err := iw.finish(ctx); err != nil {
		return nil, err
	}
	for _, id := range iw.ids {
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

// writeSpilledPack appends pack id and its entries (in index file
// encoding) to w.
func writeSpilledPack(w *bufio.Writer, id ID, entries []pack.Entry) error {
	b := index.EncodeFile(&index.File{Packs: []index.PackBlobs{{Pack: id, Entries: entries}}})
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("repair index: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("repair index: %w", err)
	}
	return nil
}

// readSpilledPack reads what writeSpilledPack wrote.
func readSpilledPack(rd *bufio.Reader) (ID, []pack.Entry, error) {
	var n [4]byte
	if _, err := io.ReadFull(rd, n[:]); err != nil {
		return ID{}, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(rd, b); err != nil {
		return ID{}, nil, err
	}
	f, err := index.DecodeFile(b)
	if err != nil || len(f.Packs) != 1 {
		return ID{}, nil, fmt.Errorf("spilled pack: %v", err)
	}
	return f.Packs[0].Pack, f.Packs[0].Entries, nil
}

// appendNew appends the entries of add that dst does not hold yet.
func appendNew(dst, add []pack.Entry) []pack.Entry {
	have := make(map[pack.Entry]bool, len(dst))
	for _, e := range dst {
		have[e] = true
	}
	for _, e := range add {
		if !have[e] {
			have[e] = true
			dst = append(dst, e)
		}
	}
	return dst
}

// loadIndexAnyName loads an index file that authenticates, whatever its
// name: for repair, whose every entry is verified against the packs.
func (r *Repository) loadIndexAnyName(ctx context.Context, id ID) (*index.File, error) {
	b, err := loadBounded(ctx, r.be, backend.Handle{Type: backend.IndexFile, Name: id.String()})
	if err != nil {
		return nil, err
	}
	plain, err := r.openSealed(backend.IndexFile, b)
	if err != nil {
		return nil, err
	}
	return index.DecodeFile(plain)
}

// rebuildPack works out which blobs of pack id to index. Candidates are
// the entries of its header and old, the entries the old index files list
// for it. A pack whose header is unreadable, or whose content does not
// match its name, is damaged: every candidate is verified and the pack is
// marked for rewriting. Otherwise the header's entries are kept (verified
// with readData) and old entries the header lacks are verified. A failure
// to read the pack keeps old as it is.
func (r *Repository) rebuildPack(ctx context.Context, id ID, size int64, old []pack.Entry, readData bool) packRebuild {
	hdr, herr := pack.ReadHeader(r.key.AEAD(), &packReaderAt{ctx: ctx, be: r.be, h: backend.Handle{Type: backend.PackFile, Name: id.String()}}, size)
	if herr != nil && !isCorrupt(herr) {
		return packRebuild{entries: old, ioErr: herr}
	}
	name, nerr := r.packTrailerName(ctx, id, size)
	if nerr != nil && !isCorrupt(nerr) {
		return packRebuild{entries: old, ioErr: nerr}
	}
	damaged := herr != nil || nerr != nil || name != id || size > MaxPackFile
	candidates := appendNew(append([]pack.Entry(nil), hdr...), old)
	verify := candidates
	var kept []pack.Entry
	if !damaged && !readData {
		kept = append(kept, hdr...)
		verify = candidates[len(hdr):]
	}
	failed := map[pack.BlobHandle]bool{}
	keptSet := map[pack.BlobHandle]bool{}
	for _, e := range kept {
		keptSet[e.BlobHandle] = true
	}
	err := r.verifyPackBlobs(ctx, id, size, verify, func(c blobCheck) error {
		if c.Err != nil {
			if !isCorrupt(c.Err) {
				return c.Err
			}
			failed[c.Entry.BlobHandle] = true
			return nil
		}
		if !keptSet[c.Entry.BlobHandle] {
			keptSet[c.Entry.BlobHandle] = true
			kept = append(kept, c.Entry)
		}
		return nil
	})
	if err != nil {
		return packRebuild{entries: old, ioErr: err}
	}
	dropped := 0
	for h := range failed {
		if !keptSet[h] {
			dropped++
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Offset < kept[j].Offset })
	return packRebuild{entries: kept, dropped: dropped, rewrite: damaged}
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
	// Snapshots before the index files (a writer stores its index files
	// before its snapshot).
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	ri, err := r.loadRepoIndex(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer ri.close()
	bad := map[pack.BlobHandle]bool{}
	for _, h := range opts.Damaged {
		bad[h] = true
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	// First, what is damaged: trees that do not load, and data blobs no
	// index file lists (every distinct tree read once, the blobs used
	// collected on disk and merge-joined with the index table). Nothing
	// damaged: no snapshot needs rewriting.
	missing := map[pack.BlobHandle]bool{}
	treeDamage := false
	{
		used, err := index.NewHandleSet(r.tableDir())
		if err != nil {
			return nil, err
		}
		defer used.Close()
		seen := map[ID]bool{}
		for _, id := range ids {
			sn, err := r.LoadSnapshot(ctx, id)
			if err != nil {
				continue // handled below
			}
			err = r.collectUsed(ctx, ri, sn.Tree, used, seen, func(ID, error) { treeDamage = true })
			if err != nil {
				return nil, err
			}
		}
		if err := used.Freeze(nil); err != nil {
			return nil, err
		}
		cur := ri.t.BlobCursor()
		err = used.ForEach(func(h pack.BlobHandle) error {
			holders, err := cur.Seek(h)
			if err == nil && len(holders) == 0 {
				missing[h] = true
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	needRepair := treeDamage || len(missing) > 0 || len(bad) > 0
	ok := func(h pack.BlobHandle) bool {
		if bad[h] || missing[h] {
			return false
		}
		if h.Type == pack.TreeBlob {
			hs, err := ri.t.Lookup(h)
			return err == nil && len(hs) > 0
		}
		return true
	}
	clean := map[ID]bool{} // trees without damage, across snapshots
	var out []RepairedSnapshot
	for _, id := range ids {
		sn, err := r.LoadSnapshot(ctx, id)
		if err != nil && errors.Is(err, ErrCorrupt) {
			// Authentic content under the wrong name (swapped or
			// renamed): keep the snapshot, under a name of its own.
			if rs, ok := r.renameSnapshot(ctx, id, opts.DryRun); ok {
				out = append(out, rs)
				continue
			}
		}
		if err != nil {
			rs := RepairedSnapshot{Old: id.String(), Error: err.Error()}
			if errors.Is(err, ErrCorrupt) {
				rs.Removed = true
				if !opts.DryRun {
					r.earlySnaps.drop()
					if err := r.be.Remove(ctx, backend.Handle{Type: backend.SnapshotFile, Name: id.String()}); err != nil && !errors.Is(err, backend.ErrNotFound) {
						return out, fmt.Errorf("remove snapshot %s: %w", id.Short(), err)
					}
				}
			}
			out = append(out, rs)
			continue
		}
		if !needRepair {
			continue
		}
		rt := &treeRepairer{r: r, ri: ri, ok: ok, dry: opts.DryRun, clean: clean}
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
			r.earlySnaps.drop()
			if err := r.be.Remove(ctx, backend.Handle{Type: backend.SnapshotFile, Name: id.String()}); err != nil && !errors.Is(err, backend.ErrNotFound) {
				return out, fmt.Errorf("remove snapshot %s: %w", id.Short(), err)
			}
		}
		out = append(out, rs)
	}
	return out, nil
}

// renameSnapshot handles a snapshot file whose content authenticates but
// does not match its name: the snapshot is stored again under a name of
// its own (unless a file of the right name holds it already) and the
// misnamed file is removed. ok is false when the content does not
// authenticate. A snapshot rescued this way is not checked for missing
// data here: the next run of repair snapshots does that.
func (r *Repository) renameSnapshot(ctx context.Context, id ID, dry bool) (RepairedSnapshot, bool) {
	h := backend.Handle{Type: backend.SnapshotFile, Name: id.String()}
	b, err := loadBounded(ctx, r.be, h)
	if err != nil {
		return RepairedSnapshot{}, false
	}
	plain, err := r.openSealed(backend.SnapshotFile, b)
	if err != nil {
		return RepairedSnapshot{}, false
	}
	if _, err := DecodeSnapshot(plain); err != nil {
		return RepairedSnapshot{}, false
	}
	rs := RepairedSnapshot{Old: id.String(), Error: "content authenticates but does not match the file's name (swapped or renamed): stored again under its own name", DamagedFiles: []string{}}
	right := crypto.Hash(b)
	if have, err := r.LoadSnapshot(ctx, right); err == nil && have.ID() == right {
		rs.New = right.String() // already stored under its right name
	} else if !dry {
		nid, err := r.saveHashed(ctx, backend.SnapshotFile, plain)
		if err != nil {
			return RepairedSnapshot{}, false
		}
		rs.New = nid.String()
	}
	if !dry {
		if err := r.be.Remove(ctx, h); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return RepairedSnapshot{}, false
		}
	}
	return rs, true
}

type treeRepairer struct {
	r       *Repository
	ri      *repoIndex
	up      *Uploader
	ok      func(pack.BlobHandle) bool
	dry     bool
	clean   map[ID]bool // trees without damage (they map to themselves)
	damaged []string
}

// tree returns the ID of the repaired version of tree id at path p.
func (t *treeRepairer) tree(ctx context.Context, id ID, p string) (ID, error) {
	if t.clean[id] {
		return id, nil
	}
	tr, err := t.r.loadTreeVia(ctx, t.ri, id)
	if err != nil || !t.ok(pack.BlobHandle{ID: id, Type: pack.TreeBlob}) {
		return ID{}, errMissingTree
	}
	if len(tr.Parts) > 0 { // a split directory, repaired a part at a time (repo/treesplit.go)
		return t.splitTree(ctx, id, tr, p)
	}
	names := map[string]bool{}
	for _, n := range tr.Nodes {
		names[n.FileName()] = true
	}
	rename := func(name string) string { return damagedName(name, names) }
	changed := false
	nodes := make([]*data.Node, 0, len(tr.Nodes))
	for _, n := range tr.Nodes {
		nn, ch, err := t.node(ctx, n, p, rename)
		if err != nil {
			return ID{}, err
		}
		changed = changed || ch
		nodes = append(nodes, nn)
	}
	if !changed {
		t.clean[id] = true
		return id, nil
	}
	nt := &data.Tree{Nodes: nodes}
	nt.Sort()
	return t.save(ctx, nt)
}

// node returns the repaired version of entry n of the directory at path p
// and whether it differs from n: a subdirectory whose tree is lost becomes
// an empty directory, a file loses its missing blobs; either is renamed
// by rename and recorded as damaged.
func (t *treeRepairer) node(ctx context.Context, n *data.Node, p string, rename func(string) string) (*data.Node, bool, error) {
	nn := *n
	np := p + n.FileName()
	switch {
	case n.Type == data.NodeDir && n.Subtree != nil:
		sub, err := t.tree(ctx, *n.Subtree, np+"/")
		if errors.Is(err, errMissingTree) {
			t.damaged = append(t.damaged, np+"/")
			empty, err := t.save(ctx, &data.Tree{Nodes: []*data.Node{}})
			if err != nil {
				return nil, false, err
			}
			nn.Subtree = &empty
			nn.SetName(rename(n.FileName()))
			return &nn, true, nil
		} else if err != nil {
			return nil, false, err
		} else if sub != *n.Subtree {
			nn.Subtree = &sub
			return &nn, true, nil
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
			if hs, err := t.ri.t.Lookup(h); err != nil {
				return nil, false, err
			} else if len(hs) > 0 {
				size += uint64(hs[0].Entry.RawLength)
			}
		}
		if lost {
			t.damaged = append(t.damaged, np)
			nn.Content = keep
			nn.Size = size
			nn.SetName(rename(n.FileName()))
			return &nn, true, nil
		}
	}
	return &nn, false, nil
}

func (t *treeRepairer) save(ctx context.Context, tr *data.Tree) (ID, error) {
	if t.dry {
		b, err := data.EncodeTree(tr)
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
