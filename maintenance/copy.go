package maintenance

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/data"
)

// CopyMetadataKey is the Snapshot.Metadata key under which a copied
// snapshot records where it came from (CopyOrigin).
const CopyMetadataKey = "copy"

// CopyOrigin is the value of Metadata["copy"] of a copied snapshot.
type CopyOrigin struct {
	SourceRepository string  `json:"source_repository"` // Config.ID of the source
	SourceSnapshot   repo.ID `json:"source_snapshot"`   // snapshot ID in the source
}

// CopyOptions tune Copy.
type CopyOptions struct {
	// Progress, if set, is called after each snapshot (from Copy's goroutine).
	Progress func(s *repo.Snapshot, st *CopyStats)
	// Fetchers is the number of parallel pack reads from the source (0:
	// the source backend's Connections, at most 8).
	Fetchers int
}

// CopyStats summarise a Copy. JSON names are part of `copy --json`.
type CopyStats struct {
	SnapshotsCopied  int   `json:"snapshots_copied"`
	SnapshotsSkipped int   `json:"snapshots_skipped"` // copied by an earlier run
	BlobsCopied      int64 `json:"blobs_copied"`      // data and tree blobs sent
	BlobsPresent     int64 `json:"blobs_present"`     // already in the destination
	BytesCopied      int64 `json:"bytes_copied"`      // plaintext bytes of copied data blobs
	BytesStored      int64 `json:"bytes_stored"`      // bytes added to destination packs
	Rehashed         bool  `json:"rehashed"`          // keys differ: blob IDs were recomputed
	// Copied maps source snapshot IDs to the new snapshot IDs.
	Copied map[string]string `json:"copied,omitempty"`
}

// SharesKeyWith reports whether r and o use the same master key (a
// repository created with `init --copy-chunker-params-from`): blob IDs,
// gear table and encryption keys are then identical.
func SharesKeyWith(r, o *repo.Repository) bool {
	return subtle.ConstantTimeCompare(r.Key().Master(), o.Key().Master()) == 1
}

// CopiedFrom returns the origins of every snapshot in r that is a copy
// (Metadata["copy"]), keyed by source repository ID and snapshot ID.
func CopiedFrom(ctx context.Context, r *repo.Repository) (map[CopyOrigin]repo.ID, error) {
	snaps, err := r.Snapshots(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := map[CopyOrigin]repo.ID{}
	for _, s := range snaps {
		raw, ok := s.Metadata[CopyMetadataKey]
		if !ok {
			continue
		}
		var o CopyOrigin
		if json.Unmarshal(raw, &o) == nil && !o.SourceSnapshot.IsNull() {
			out[o] = s.ID()
		}
	}
	return out, nil
}

// Copy copies snapshots (and everything they reference that r lacks) from
// src into r. Snapshots already copied (Metadata["copy"] of a snapshot in r
// names them) are skipped.
//
// Write order per snapshot is packs → index → snapshot, so an interrupted
// Copy leaves r consistent, and a re-run sends only what is still missing.
// When the two repositories have different keys, blob IDs differ: each
// blob is re-hashed with r's key and trees are rewritten; the source→
// destination ID mapping is kept in r's local cache (metakey "cp1" ‖ source
// repository ID ‖ type ‖ source blob ID) so a re-run needs no download to
// know which blobs r already has.
func Copy(ctx context.Context, r, src *repo.Repository, snaps []*repo.Snapshot, opts CopyOptions) (_ *CopyStats, retErr error) {
	ctx, release, err := r.HoldForWrite(ctx, "copy") // docs/FORMAT.md §10
	if err != nil {
		return nil, err
	}
	defer release()
	// The source is read through its index table (openSourceIndex), not
	// its cache: its lock does not sync the cache.
	ctx, releaseSrc, err := src.HoldForIndexRead(ctx, "copy (source)")
	if err != nil {
		return nil, err
	}
	defer releaseSrc()
	done, err := CopiedFrom(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("list destination snapshots: %w", err)
	}
	c := &copier{dst: r, src: src, same: SharesKeyWith(r, src), trees: map[repo.ID]repo.ID{}}
	defer c.close()
	defer func() {
		// A copy that failed for another reason than an interruption
		// still tells the cache about the snapshots it copied (best
		// effort: else the next open merges their index files one by
		// one).
		if retErr != nil && c.deferred != nil && ctx.Err() == nil && !errors.Is(retErr, ErrCopyCacheUpdate) {
			_ = c.deferred.Commit(ctx)
		}
	}()
	c.fetchers = opts.Fetchers
	if c.fetchers <= 0 {
		c.fetchers = min(max(src.Backend().Properties().Connections, 1), 8)
	}
	st := &CopyStats{Rehashed: !c.same, Copied: map[string]string{}}
	c.st = st
	sorted := append([]*repo.Snapshot(nil), snaps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	for _, s := range sorted {
		origin := CopyOrigin{SourceRepository: src.Config().ID, SourceSnapshot: s.ID()}
		if id, ok := done[origin]; ok {
			st.SnapshotsSkipped++
			st.Copied[s.ID().String()] = id.String()
			continue
		}
		if err := c.openSourceIndex(ctx); err != nil {
			return st, err
		}
		if c.deferred == nil {
			// The destination's cache learns the copied blobs at the
			// end, in key order (copy_deferred.go); at most every
			// source blob is copied.
			if c.deferred, err = r.NewDeferredIndex(c.srcIdx.NumBlobs()); err != nil {
				return st, fmt.Errorf("copy: %w", err)
			}
		}
		var newTree repo.ID
		err := r.WithDeferredUploader(ctx, c.deferred, func(ctx context.Context, up *repo.Uploader) error {
			var err error
			newTree, err = c.copyTree(ctx, up, s.Tree)
			defer func() { st.BytesStored += up.Stats.StoredBytes.Load() }()
			return err
		})
		if err != nil {
			return st, fmt.Errorf("copy snapshot %s: %w", s.ID().Short(), err)
		}
		ns := *s
		ns.Tree = newTree
		ns.Parent = nil // the parent's ID means nothing in r
		ns.Metadata = map[string]json.RawMessage{}
		for k, v := range s.Metadata {
			ns.Metadata[k] = v
		}
		ob, err := json.Marshal(origin)
		if err != nil {
			return st, err
		}
		ns.Metadata[CopyMetadataKey] = ob
		id, err := r.SaveSnapshot(ctx, &ns)
		if err != nil {
			return st, fmt.Errorf("copy snapshot %s: %w", s.ID().Short(), err)
		}
		st.SnapshotsCopied++
		st.Copied[s.ID().String()] = id.String()
		done[origin] = id
		st.BlobsCopied, st.BlobsPresent, st.BytesCopied = c.copied.Load(), c.present.Load(), c.bytes.Load()
		if opts.Progress != nil {
			opts.Progress(s, st)
		}
	}
	st.BlobsCopied, st.BlobsPresent, st.BytesCopied = c.copied.Load(), c.present.Load(), c.bytes.Load()
	if c.deferred == nil {
		return st, nil
	}
	if err := c.deferred.Commit(ctx); err != nil {
		return st, fmt.Errorf("%w: %w", ErrCopyCacheUpdate, err)
	}
	return st, nil
}

type copier struct {
	dst, src *repo.Repository
	same     bool
	fetchers int
	st       *CopyStats

	// srcIdx is the source's index (on disk), where every source blob
	// is looked up: the source's Badger cache is neither needed (the
	// command opens the source with SnapshotsOnly) nor used, because
	// its mapped tables made the resident size grow with the source's
	// index (issue 13).
	srcIdx *index.Table

	// deferred holds the blobs copied in this run until they are merged
	// into the destination's cache (copy_deferred.go).
	deferred *repo.DeferredIndex

	mu    sync.Mutex
	trees map[repo.ID]repo.ID // source tree → destination tree, this run

	copied, present, bytes atomic.Int64
}

// openSourceIndex builds the source's index table (once).
func (c *copier) openSourceIndex(ctx context.Context) error {
	if c.srcIdx != nil {
		return nil
	}
	t, err := c.src.IndexTable(ctx)
	if err != nil {
		return fmt.Errorf("read the source's index: %w", err)
	}
	c.srcIdx = t
	return nil
}

func (c *copier) close() {
	if c.deferred != nil {
		c.deferred.Close()
		c.deferred = nil
	}
	if c.srcIdx != nil {
		c.srcIdx.Close()
		c.srcIdx = nil
	}
}

// locate returns where the source keeps h.
func (c *copier) locate(h pack.BlobHandle) (index.Location, error) {
	loc, ok, err := repo.TableLocation(c.srcIdx, h)
	if err != nil {
		return index.Location{}, fmt.Errorf("look up %v blob %s in the source's index: %w", h.Type, h.ID.Short(), err)
	}
	if !ok {
		return index.Location{}, fmt.Errorf("%v blob %s: %w", h.Type, h.ID.Short(), repo.ErrBlobNotFound)
	}
	return loc, nil
}

// mapKey is the cache metakey of a source blob's destination ID.
func (c *copier) mapKey(t pack.BlobType, id repo.ID) []byte {
	k := make([]byte, 0, 3+len(c.src.Config().ID)+1+32)
	k = append(k, "cp1"...)
	k = append(k, c.src.Config().ID...)
	k = append(k, byte(t))
	return append(k, id[:]...)
}

// mapped returns the destination ID of a source blob if known.
func (c *copier) mapped(t pack.BlobType, id repo.ID) (repo.ID, bool, error) {
	if c.same {
		return id, true, nil
	}
	v, ok, err := c.dst.Cache().GetMeta(c.mapKey(t, id))
	if err != nil || !ok || len(v) != len(repo.ID{}) {
		return repo.ID{}, false, err
	}
	return repo.ID(v), true, nil
}

func (c *copier) remember(t pack.BlobType, src, dst repo.ID) error {
	if c.same {
		return nil
	}
	return c.dst.Cache().PutMeta(c.mapKey(t, src), dst[:])
}

// copyTree copies the tree src (recursively) and returns its ID in dst.
func (c *copier) copyTree(ctx context.Context, up *repo.Uploader, srcID repo.ID) (repo.ID, error) {
	c.mu.Lock()
	if id, ok := c.trees[srcID]; ok {
		c.mu.Unlock()
		return id, nil
	}
	c.mu.Unlock()
	th := pack.BlobHandle{ID: srcID, Type: pack.TreeBlob}
	loc, err := c.locate(th)
	if err != nil {
		return repo.ID{}, err
	}
	raw, err := c.src.LoadBlobAt(ctx, th, loc, nil)
	if err != nil {
		return repo.ID{}, fmt.Errorf("load tree %s: %w", srcID.Short(), err)
	}
	t, err := data.DecodeTree(raw)
	if err != nil {
		return repo.ID{}, fmt.Errorf("tree %s: %w", srcID.Short(), err)
	}
	// Subtrees first (children before parents: a tree is stored only after
	// everything it references).
	if err := c.copyParts(ctx, up, t); err != nil { // copy_split.go
		return repo.ID{}, err
	}
	for _, n := range t.Nodes {
		if n.Type == data.NodeDir && n.Subtree != nil {
			sub, err := c.copyTree(ctx, up, *n.Subtree)
			if err != nil {
				return repo.ID{}, err
			}
			n.Subtree = &sub
		}
	}
	// Data blobs of this directory's files, fetched pack by pack.
	var need []repo.ID
	seen := map[repo.ID]bool{}
	for _, n := range t.Nodes {
		for _, id := range n.Content {
			if !seen[id] {
				seen[id] = true
				need = append(need, id)
			}
		}
	}
	dmap, err := c.copyData(ctx, up, need)
	if err != nil {
		return repo.ID{}, err
	}
	var dstID repo.ID
	if c.same {
		// IDs are unchanged: store the tree's bytes as they are.
		dstID = srcID
		added, err := up.SaveBlobWithID(ctx, pack.TreeBlob, srcID, raw)
		if err != nil {
			return repo.ID{}, err
		}
		c.count(added, 0)
	} else {
		for _, n := range t.Nodes {
			for i, id := range n.Content {
				n.Content[i] = dmap[id]
			}
		}
		b, err := data.EncodeTree(t)
		if err != nil {
			return repo.ID{}, err
		}
		var added bool
		dstID, added, err = up.SaveBlob(ctx, pack.TreeBlob, b)
		if err != nil {
			return repo.ID{}, err
		}
		c.count(added, 0)
	}
	c.mu.Lock()
	c.trees[srcID] = dstID
	c.mu.Unlock()
	return dstID, nil
}

func (c *copier) count(added bool, n int) {
	if added {
		c.copied.Add(1)
		c.bytes.Add(int64(n))
	} else {
		c.present.Add(1)
	}
}

// fetch is one range read of a source pack covering several needed blobs.
type fetch struct {
	pack   repo.ID
	offset int64
	end    int64
	blobs  []fetchBlob
}

type fetchBlob struct {
	id  repo.ID
	loc index.Location
}

// maxFetch bounds one range read (memory: fetchers × maxFetch).
const maxFetch = 8 << 20

// maxGap: blobs closer than this in one pack are read in one request.
const maxGap = 256 << 10

// copyData makes sure every source data blob in ids is in dst and returns
// the source → destination ID mapping.
func (c *copier) copyData(ctx context.Context, up *repo.Uploader, ids []repo.ID) (map[repo.ID]repo.ID, error) {
	out := make(map[repo.ID]repo.ID, len(ids))
	var outMu sync.Mutex
	byPack := map[repo.ID][]fetchBlob{}
	// The blobs whose destination ID is known, looked up in the
	// destination together (copy_deferred.go).
	var known, knownDst []repo.ID
	var missing []repo.ID
	for _, id := range ids {
		dstID, ok, err := c.mapped(pack.DataBlob, id)
		if err != nil {
			return nil, err
		}
		if ok {
			known, knownDst = append(known, id), append(knownDst, dstID)
		} else {
			missing = append(missing, id)
		}
	}
	has, err := c.dstHasMany(ctx, pack.DataBlob, knownDst)
	if err != nil {
		return nil, err
	}
	for i, id := range known {
		if has[i] {
			out[id] = knownDst[i]
			c.present.Add(1)
		} else {
			missing = append(missing, id)
		}
	}
	for _, id := range missing {
		loc, err := c.locate(pack.BlobHandle{ID: id, Type: pack.DataBlob})
		if err != nil {
			return nil, err
		}
		byPack[loc.Pack] = append(byPack[loc.Pack], fetchBlob{id: id, loc: loc})
	}
	var fetches []fetch
	for p, bl := range byPack {
		sort.Slice(bl, func(i, j int) bool { return bl[i].loc.Offset < bl[j].loc.Offset })
		var cur *fetch
		for _, b := range bl {
			off, end := int64(b.loc.Offset), int64(b.loc.Offset)+int64(b.loc.Length)
			if cur != nil && off-cur.end <= maxGap && end-cur.offset <= maxFetch {
				cur.end = max(cur.end, end)
				cur.blobs = append(cur.blobs, b)
				continue
			}
			fetches = append(fetches, fetch{pack: p, offset: off, end: end, blobs: []fetchBlob{b}})
			cur = &fetches[len(fetches)-1]
		}
	}
	if len(fetches) == 0 {
		return out, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.fetchers)
	for _, f := range fetches {
		g.Go(func() error {
			return c.runFetch(gctx, up, f, func(src, dst repo.ID) {
				outMu.Lock()
				out[src] = dst
				outMu.Unlock()
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *copier) runFetch(ctx context.Context, up *repo.Uploader, f fetch, record func(src, dst repo.ID)) error {
	buf := make([]byte, f.end-f.offset)
	h := backend.Handle{Type: backend.PackFile, Name: f.pack.String()}
	err := c.src.Backend().Load(ctx, h, len(buf), f.offset, func(rd io.Reader) error {
		_, err := io.ReadFull(rd, buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("read source pack %s: %w", f.pack.Short(), err)
	}
	var plain []byte
	for _, b := range f.blobs {
		rel := int64(b.loc.Offset) - f.offset
		sealed := buf[rel : rel+int64(b.loc.Length)]
		bh := pack.BlobHandle{ID: b.id, Type: pack.DataBlob}
		plain, err = c.src.DecodeBlob(b.loc.Entry(bh), f.pack, sealed, plain)
		if err != nil {
			return err
		}
		dstID := b.id
		if !c.same {
			dstID = c.dst.Key().BlobID(plain)
		}
		save := up.SaveBlobWithID
		if c.same {
			// copyData found it absent from the cache (dstHasMany).
			save = up.SaveAbsentBlobWithID
		}
		added, err := save(ctx, pack.DataBlob, dstID, plain)
		if err != nil {
			return err
		}
		if err := c.remember(pack.DataBlob, b.id, dstID); err != nil {
			return err
		}
		c.count(added, len(plain))
		record(b.id, dstID)
	}
	return nil
}
