package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// Index files are written when this many entries are pending, or when
// indexFlushInterval has passed, so an interrupted backup leaves most of
// its packs indexed and a re-run reuses them.
const (
	indexFlushEntries  = 100_000
	indexFlushInterval = 2 * time.Minute
)

// uploadPackEntries closes a pack at this many blobs even below PackSize.
// Until a pack's index file is written, the uploader keeps every entry of
// it several times in memory (the pack writer's entries, the pending and
// unindexed sets: about 150 bytes a blob), for every pack being filled or
// uploaded at once. A pack of tiny blobs (a few hundred bytes: small trees,
// copies of small files) could hold pack.MaxEntries (364,722): eight of
// them in flight were 400 MiB (copy of a 10 M-blob repository, issue 13).
// Packs of real chunks (1 MiB average) hold a few dozen blobs and never
// reach it.
const uploadPackEntries = 1 << 15

// UploadStats count what an Uploader stored.
type UploadStats struct {
	Blobs       atomic.Int64 // new data blobs stored
	RawBytes    atomic.Int64 // their plaintext size
	TreeBlobs   atomic.Int64 // new tree blobs stored
	StoredBytes atomic.Int64 // sealed bytes (data and tree) written into packs
	Packs       atomic.Int64
	IndexFiles  atomic.Int64
}

// Uploader groups blobs into packs and uploads them. SaveBlob is safe for
// concurrent use. Obtain one with Repository.WithUploader.
type Uploader struct {
	r     *Repository
	queue chan *packBuilder
	spool backend.Spooler // non-nil: packs are written to temporary files
	Stats UploadStats

	// open holds the packs being filled that no SaveBlob is writing to
	// right now. A SaveBlob takes one out (or starts one), writes its blob
	// without holding mu, and puts it back: concurrent SaveBlobs fill
	// different packs instead of queueing behind one pack's write. A
	// second pack of a type is only started once a full pack of that type
	// was sent (busy counts the packs taken out, filled whether one was;
	// idle is signalled when one comes back): a small backup still writes
	// one pack per type, a large one writes several in parallel.
	mu     sync.Mutex
	idle   *sync.Cond
	open   map[pack.BlobType][]*packBuilder
	busy   map[pack.BlobType]int
	filled map[pack.BlobType]bool
	// failed: the session failed and its open packs were discarded; a
	// SaveBlob still running (a goroutine of the failed fn) discards its
	// pack instead of putting it back where nothing would discard it.
	failed bool

	idxMu     sync.Mutex
	idx       index.File
	idxCount  int
	lastFlush time.Time

	// unindexed holds the handles this uploader marked pending and that no
	// stored index file lists yet. They stay pending in the cache (so this
	// process does not store them twice) and are committed to the cache
	// only together with their index file: the cache must never know a
	// blob that the repository's index files do not. After a failure they
	// are forgotten.
	pendMu    sync.Mutex
	unindexed map[pack.BlobHandle]struct{}

	// dry: a dry run's uploader (WithDryRunUploader), which counts what
	// would be stored and stores nothing.
	dry bool

	// deferred: the index files this uploader writes are not merged into
	// the cache but recorded in it (WithDeferredUploader).
	deferred *DeferredIndex

	// hold (HoldWrites) is waited for, once, before the first pack is
	// started; holdErr is its answer.
	hold     func(context.Context) error
	holdOnce sync.Once
	holdErr  error
}

// HoldWrites makes the uploader wait for wait, once, before it starts its
// first pack (for a local repository, the first file it creates), and fail
// that and every later new blob with wait's error if it returns one. Blobs
// the repository has already are not held. Call it before the first
// SaveBlob; meanwhile SaveBlob calls that need a pack block.
func (up *Uploader) HoldWrites(wait func(context.Context) error) { up.hold = wait }

// held waits for the hold of HoldWrites, if any.
func (up *Uploader) held(ctx context.Context) error {
	if up.hold == nil {
		return nil
	}
	up.holdOnce.Do(func() { up.holdErr = up.hold(ctx) })
	return up.holdErr
}

// packBuilder is one pack being filled: in memory (buf), or spooled into
// a temporary file of the backend (file, through sink: packsink*.go) when
// the backend is a backend.Spooler, so packs never sit in memory.
type packBuilder struct {
	buf  *bytes.Buffer
	file *os.File
	sink packSink
	w    *pack.Writer

	entries []pack.Entry // set by store
}

// discard drops a pack that will not be stored (no temporary file is left).
func (up *Uploader) discard(pb *packBuilder) {
	if pb.file != nil {
		pb.sink.Close() // before the file is closed: it may be writing
		up.spool.AbortTemp(pb.file)
		return
	}
	pb.buf.Reset()
	packPool.Put(pb.buf)
}

func (up *Uploader) newPack(ctx context.Context) (*packBuilder, error) {
	if err := up.held(ctx); err != nil {
		return nil, err
	}
	if up.spool != nil {
		f, err := up.spool.CreateTemp(backend.PackFile)
		if err != nil {
			return nil, fmt.Errorf("create pack file: %w", err)
		}
		sink := newPackSink(f)
		return &packBuilder{file: f, sink: sink, w: pack.NewWriter(sink, up.r.key.AEAD())}, nil
	}
	buf, _ := packPool.Get().(*bytes.Buffer)
	if buf == nil {
		buf = bytes.NewBuffer(make([]byte, 0, up.packCap()))
	}
	return &packBuilder{buf: buf, w: pack.NewWriter(buf, up.r.key.AEAD())}, nil
}

var (
	sealPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}
	packPool sync.Pool // of *bytes.Buffer, reused after upload
)

// WithUploader runs fn with an Uploader and, if fn succeeds, flushes the
// partially filled packs and writes the remaining index entries. Every
// SaveBlob call must have returned before fn returns. When WithUploader
// returns nil, every blob saved is durable and indexed in the repository.
func (r *Repository) WithUploader(ctx context.Context, fn func(ctx context.Context, up *Uploader) error) error {
	return r.withUploader(ctx, nil, fn)
}

func (r *Repository) withUploader(ctx context.Context, d *DeferredIndex, fn func(ctx context.Context, up *Uploader) error) error {
	g, gctx := errgroup.WithContext(ctx)
	up := &Uploader{
		deferred:  d,
		r:         r,
		queue:     make(chan *packBuilder),
		open:      map[pack.BlobType][]*packBuilder{},
		busy:      map[pack.BlobType]int{},
		filled:    map[pack.BlobType]bool{},
		lastFlush: time.Now(),
		unindexed: map[pack.BlobHandle]struct{}{},
	}
	up.idle = sync.NewCond(&up.mu)
	up.spool, _ = backend.As[backend.Spooler](r.be)
	conns := r.be.Properties().Connections
	if conns < 1 {
		conns = 1
	}
	// The queue is never closed (a goroutine of a failed fn may still try
	// to send): workers stop when stop is closed, after flushOpen's sends
	// (unbuffered, so every sent pack was received) are done.
	stop := make(chan struct{})
	for range conns {
		g.Go(func() error {
			for {
				select {
				case pb := <-up.queue:
					if err := up.upload(gctx, pb); err != nil {
						return err
					}
				case <-stop:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		})
	}
	err := fn(gctx, up)
	if err == nil {
		err = up.flushOpen(gctx)
	}
	close(stop)
	werr := g.Wait()
	// A failed upload cancels gctx, so fn often fails with a bare
	// "context canceled": report the upload's own error instead.
	if err == nil || (werr != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil) {
		err = werr
	}
	if err == nil {
		err = up.flushIndex(ctx, true)
	}
	if err != nil {
		up.mu.Lock()
		up.failed = true
		for t, l := range up.open {
			for _, pb := range l {
				up.discard(pb)
			}
			delete(up.open, t)
		}
		up.mu.Unlock()
		up.forgetUnindexed()
	}
	return err
}

// forgetUnindexed forgets, in the cache, every blob this uploader marked
// pending that no stored index file lists yet (after a failure, or at the
// end of a dry run), and empties the set.
func (up *Uploader) forgetUnindexed() {
	up.pendMu.Lock()
	defer up.pendMu.Unlock()
	for h := range up.unindexed {
		up.r.cache.ForgetPending(h)
	}
	up.unindexed = map[pack.BlobHandle]struct{}{}
}

// SaveBlob stores data as a blob of type t unless the repository (or this
// process) already has it. It returns the blob's ID and whether it was new.
// data is not retained after SaveBlob returns.
func (up *Uploader) SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (ID, bool, error) {
	id := up.r.key.BlobID(data)
	added, err := up.SaveBlobWithID(ctx, t, id, data)
	return id, added, err
}

// ErrBlobTooLarge: a blob exceeds pack.MaxBlobSize (64 MiB) before or
// after sealing. Data blobs are chunks and never come near it; a tree blob
// does for a directory of some 150,000 to 250,000 entries (the encoded
// size counts, so long names reach it sooner) in a format 1 repository;
// format 2 splits directories long before (repo/treesplit.go).
var ErrBlobTooLarge = errors.New("blob larger than the 64 MiB limit of one blob")

// SaveBlobWithID is SaveBlob for a caller that already computed the blob ID.
func (up *Uploader) SaveBlobWithID(ctx context.Context, t pack.BlobType, id ID, data []byte) (bool, error) {
	return up.saveBlob(ctx, t, id, data, up.r.cache.AddPending)
}

// saveBlob stores data as blob id unless claim (which marks it pending)
// says it is stored or pending already.
func (up *Uploader) saveBlob(ctx context.Context, t pack.BlobType, id ID, data []byte, claim func(context.Context, pack.BlobHandle) (bool, error)) (bool, error) {
	if len(data) > pack.MaxBlobSize {
		return false, fmt.Errorf("%v blob of %d bytes: %w", t, len(data), ErrBlobTooLarge)
	}
	h := pack.BlobHandle{ID: id, Type: t}
	isNew, err := claim(ctx, h)
	if err != nil || !isNew {
		return false, err
	}
	if up.deferred != nil {
		// Stored earlier in this session: in an index file, not in the
		// cache (uploader_deferred.go).
		if had, err := up.deferred.Has(h); err != nil || had {
			up.r.cache.ForgetPending(h)
			return false, err
		}
	}
	up.pendMu.Lock()
	up.unindexed[h] = struct{}{}
	up.pendMu.Unlock()
	if err := up.add(ctx, h, data); err != nil {
		up.pendMu.Lock()
		delete(up.unindexed, h)
		up.pendMu.Unlock()
		up.r.cache.ForgetPending(h)
		return false, err
	}
	return true, nil
}

func (up *Uploader) add(ctx context.Context, h pack.BlobHandle, data []byte) error {
	scratch := sealPool.Get().(*[]byte)
	sealBuf := sealPool.Get().(*[]byte)
	defer func() {
		sealPool.Put(scratch)
		sealPool.Put(sealBuf)
	}()
	payload, comp := up.r.compress(h.Type, data, *scratch)
	if comp != pack.CompressionNone {
		*scratch = payload[:0]
	}
	sealed := pack.SealBlob(up.r.key.AEAD(), (*sealBuf)[:0], h, comp, payload)
	*sealBuf = sealed[:0]
	if len(sealed) > pack.MaxBlobSize {
		return fmt.Errorf("%v blob of %d bytes (%d sealed): %w", h.Type, len(data), len(sealed), ErrBlobTooLarge)
	}
	if up.dry { // backup --dry-run: counted as stored, nothing written
		up.count(h, len(data), len(sealed))
		return nil
	}

	up.mu.Lock()
	var pb *packBuilder
	for {
		if l := up.open[h.Type]; len(l) > 0 {
			pb, up.open[h.Type] = l[len(l)-1], l[:len(l)-1]
			break
		}
		if up.busy[h.Type] == 0 || up.filled[h.Type] {
			break // start a pack
		}
		up.idle.Wait()
	}
	up.busy[h.Type]++
	up.mu.Unlock()
	var err error
	if pb == nil {
		pb, err = up.newPack(ctx)
	}
	var full, drop *packBuilder
	if err == nil {
		err = pb.w.Add(h, comp, sealed, len(data))
	}
	up.mu.Lock()
	up.busy[h.Type]--
	switch {
	case pb == nil:
	case up.failed:
		drop = pb
		if err == nil {
			err = errUploaderFailed
		}
	case err == nil && (pb.w.Size() >= int64(up.r.cfg.PackSize) || pb.w.Count() >= uploadPackEntries):
		full = pb
		up.filled[h.Type] = true
	default:
		// Back for the next SaveBlob (also after an error: the
		// session fails and WithUploader discards it).
		up.open[h.Type] = append(up.open[h.Type], pb)
	}
	up.idle.Broadcast()
	up.mu.Unlock()
	if drop != nil {
		up.discard(drop)
	}
	if err != nil {
		return fmt.Errorf("add blob to pack: %w", err)
	}
	up.count(h, len(data), len(sealed))
	if full != nil {
		return up.send(ctx, full)
	}
	return nil
}

// errUploaderFailed: a SaveBlob that finished after its session failed.
var errUploaderFailed = errors.New("the upload session failed")

// count adds one stored blob of raw and sealed bytes to the statistics.
func (up *Uploader) count(h pack.BlobHandle, raw, sealed int) {
	if h.Type == pack.DataBlob {
		up.Stats.Blobs.Add(1)
		up.Stats.RawBytes.Add(int64(raw))
	} else {
		up.Stats.TreeBlobs.Add(1)
	}
	up.Stats.StoredBytes.Add(int64(sealed))
}

// packCap is the most a pack can hold: it is closed once it reaches
// PackSize, so the last blob (at most the largest chunk, sealed) and the
// header come on top. Sizing the buffer for that avoids regrowing (and
// zeroing) a 2× buffer for every pack.
func (up *Uploader) packCap() int {
	maxBlob := 0
	for _, p := range up.r.cfg.Chunker.Profiles {
		maxBlob = max(maxBlob, p.Max)
	}
	return up.r.cfg.PackSize + maxBlob + crypto.Overhead + 64<<10
}

func (up *Uploader) send(ctx context.Context, pb *packBuilder) error {
	select {
	case up.queue <- pb:
		return nil
	case <-ctx.Done():
		up.discard(pb)
		return ctx.Err()
	}
}

func (up *Uploader) flushOpen(ctx context.Context) error {
	up.mu.Lock()
	var l []*packBuilder
	for t, open := range up.open {
		l = append(l, open...)
		delete(up.open, t)
	}
	up.mu.Unlock()
	for i, pb := range l {
		if err := up.send(ctx, pb); err != nil {
			for _, rest := range l[i+1:] {
				up.discard(rest)
			}
			return err
		}
	}
	return nil
}

// upload finalizes and stores one pack, and queues its entries for the
// next index file (write order: pack durable, then index file, then cache).
func (up *Uploader) upload(ctx context.Context, pb *packBuilder) error {
	id, err := up.store(ctx, pb)
	if err != nil {
		return err
	}
	up.Stats.Packs.Add(1)
	up.idxMu.Lock()
	up.idx.Packs = append(up.idx.Packs, index.PackBlobs{Pack: id, Entries: pb.entries})
	up.idxCount += len(pb.entries)
	up.idxMu.Unlock()
	return up.flushIndex(ctx, false)
}

// store finalizes pb and makes it durable in the backend under its name;
// it returns the pack ID. pb is consumed (stored, or discarded on error).
func (up *Uploader) store(ctx context.Context, pb *packBuilder) (ID, error) {
	entries, err := pb.w.Finalize()
	if err != nil {
		up.discard(pb)
		return ID{}, fmt.Errorf("finalize pack: %w", err)
	}
	pb.entries = entries
	if pb.file != nil {
		var id ID
		if err := pb.sink.Flush(); err != nil {
			up.spool.AbortTemp(pb.file)
			return ID{}, fmt.Errorf("write pack: %w", err)
		}
		if id, err = spooledName(pb.file); err != nil {
			up.spool.AbortTemp(pb.file)
			return ID{}, err
		}
		if err := up.spool.CommitTemp(ctx, pb.file, backend.Handle{Type: backend.PackFile, Name: id.String()}); err != nil {
			return ID{}, fmt.Errorf("save pack %s: %w", id.Short(), err)
		}
		return id, nil
	}
	defer func() {
		pb.buf.Reset()
		packPool.Put(pb.buf)
	}()
	data := pb.buf.Bytes()
	id, err := pack.Name(data)
	if err != nil {
		return ID{}, fmt.Errorf("name pack: %w", err)
	}
	if err := up.r.be.Save(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, backend.NewByteReader(data)); err != nil {
		return ID{}, fmt.Errorf("save pack %s: %w", id.Short(), err)
	}
	return id, nil
}

// spooledName reads the trailer of a finished pack file and returns the
// pack's name (pack.Name).
func spooledName(f *os.File) (ID, error) {
	fi, err := f.Stat()
	if err != nil {
		return ID{}, err
	}
	var l [4]byte
	if fi.Size() < 4 {
		return ID{}, fmt.Errorf("pack file of %d bytes: %w", fi.Size(), pack.ErrCorrupt)
	}
	if _, err := f.ReadAt(l[:], fi.Size()-4); err != nil {
		return ID{}, fmt.Errorf("read pack trailer: %w", err)
	}
	n := int64(binary.LittleEndian.Uint32(l[:]))
	if n > fi.Size()-4 {
		return ID{}, fmt.Errorf("pack header length %d: %w", n, pack.ErrCorrupt)
	}
	trailer := make([]byte, n+4)
	if _, err := f.ReadAt(trailer, fi.Size()-4-n); err != nil {
		return ID{}, fmt.Errorf("read pack trailer: %w", err)
	}
	return pack.NameFromTrailer(trailer), nil
}

// flushIndex writes pending index entries when due (or always if force).
func (up *Uploader) flushIndex(ctx context.Context, force bool) error {
	up.idxMu.Lock()
	defer up.idxMu.Unlock()
	if len(up.idx.Packs) == 0 {
		return nil
	}
	if !force && up.idxCount < indexFlushEntries && time.Since(up.lastFlush) < indexFlushInterval {
		return nil
	}
	id, err := up.r.SaveIndexFile(ctx, &up.idx)
	if err != nil {
		return err
	}
	// Commit to the cache only now that an index file lists the entries
	// (and mark the file merged so it is not read back); a deferred
	// uploader records them in its set instead, before they leave the
	// pending set.
	if up.deferred != nil {
		if err := up.deferred.add(id, &up.idx); err != nil {
			return err
		}
	} else if err := up.r.cache.MergeIndexFile(ctx, id, &up.idx); err != nil {
		return err
	}
	up.pendMu.Lock()
	for _, p := range up.idx.Packs {
		for _, e := range p.Entries {
			delete(up.unindexed, e.BlobHandle)
			up.r.cache.ForgetPending(e.BlobHandle)
		}
	}
	up.pendMu.Unlock()
	up.Stats.IndexFiles.Add(1)
	up.idx = index.File{}
	up.idxCount = 0
	up.lastFlush = time.Now()
	return nil
}
