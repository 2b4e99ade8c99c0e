package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	Stats UploadStats

	mu   sync.Mutex
	open map[pack.BlobType]*packBuilder

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
}

type packBuilder struct {
	buf *bytes.Buffer
	w   *pack.Writer
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
	g, gctx := errgroup.WithContext(ctx)
	up := &Uploader{
		r:         r,
		queue:     make(chan *packBuilder),
		open:      map[pack.BlobType]*packBuilder{},
		lastFlush: time.Now(),
		unindexed: map[pack.BlobHandle]struct{}{},
	}
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
		up.pendMu.Lock()
		for h := range up.unindexed {
			r.cache.ForgetPending(h)
		}
		up.unindexed = map[pack.BlobHandle]struct{}{}
		up.pendMu.Unlock()
	}
	return err
}

// SaveBlob stores data as a blob of type t unless the repository (or this
// process) already has it. It returns the blob's ID and whether it was new.
// data is not retained after SaveBlob returns.
func (up *Uploader) SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (ID, bool, error) {
	id := up.r.key.BlobID(data)
	added, err := up.SaveBlobWithID(ctx, t, id, data)
	return id, added, err
}

// SaveBlobWithID is SaveBlob for a caller that already computed the blob ID.
func (up *Uploader) SaveBlobWithID(ctx context.Context, t pack.BlobType, id ID, data []byte) (bool, error) {
	h := pack.BlobHandle{ID: id, Type: t}
	isNew, err := up.r.cache.AddPending(ctx, h)
	if err != nil || !isNew {
		return false, err
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

	up.mu.Lock()
	pb := up.open[h.Type]
	if pb == nil {
		buf, _ := packPool.Get().(*bytes.Buffer)
		if buf == nil {
			buf = bytes.NewBuffer(make([]byte, 0, up.packCap()))
		}
		pb = &packBuilder{buf: buf, w: pack.NewWriter(buf, up.r.key.AEAD())}
		up.open[h.Type] = pb
	}
	err := pb.w.Add(h, comp, sealed, len(data))
	var full *packBuilder
	if err == nil && (pb.w.Size() >= int64(up.r.cfg.PackSize) || pb.w.Count() >= pack.MaxEntries) {
		full = pb
		delete(up.open, h.Type)
	}
	up.mu.Unlock()
	if err != nil {
		return fmt.Errorf("add blob to pack: %w", err)
	}
	if h.Type == pack.DataBlob {
		up.Stats.Blobs.Add(1)
		up.Stats.RawBytes.Add(int64(len(data)))
	} else {
		up.Stats.TreeBlobs.Add(1)
	}
	up.Stats.StoredBytes.Add(int64(len(sealed)))
	if full != nil {
		return up.send(ctx, full)
	}
	return nil
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
		return ctx.Err()
	}
}

func (up *Uploader) flushOpen(ctx context.Context) error {
	up.mu.Lock()
	var l []*packBuilder
	for t, pb := range up.open {
		l = append(l, pb)
		delete(up.open, t)
	}
	up.mu.Unlock()
	for _, pb := range l {
		if err := up.send(ctx, pb); err != nil {
			return err
		}
	}
	return nil
}

// upload finalizes and stores one pack, and queues its entries for the
// next index file (write order: pack durable, then index file, then cache).
func (up *Uploader) upload(ctx context.Context, pb *packBuilder) error {
	defer func() {
		pb.buf.Reset()
		packPool.Put(pb.buf)
	}()
	entries, err := pb.w.Finalize()
	if err != nil {
		return fmt.Errorf("finalize pack: %w", err)
	}
	data := pb.buf.Bytes()
	id, err := pack.Name(data)
	if err != nil {
		return fmt.Errorf("name pack: %w", err)
	}
	if err := up.r.be.Save(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, backend.NewByteReader(data)); err != nil {
		return fmt.Errorf("save pack %s: %w", id.Short(), err)
	}
	up.Stats.Packs.Add(1)
	up.idxMu.Lock()
	up.idx.Packs = append(up.idx.Packs, index.PackBlobs{Pack: id, Entries: entries})
	up.idxCount += len(entries)
	up.idxMu.Unlock()
	return up.flushIndex(ctx, false)
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
	// (and mark the file merged so it is not read back).
	if err := up.r.cache.MergeIndexFile(ctx, id, &up.idx); err != nil {
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
