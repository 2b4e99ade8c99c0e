package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/data"
)

// MaxRangeGap: needed blobs of one pack closer than this are fetched in one
// range request (FileReader here, the restorer above).
const MaxRangeGap = 1 << 20

// DefaultReadAhead is the read-ahead window of a FileReader: bytes of a
// file's content requested from the backend or decoded but not yet read.
const DefaultReadAhead = 64 << 20

// FileReaderOptions tune a FileReader. The zero value means defaults.
type FileReaderOptions struct {
	// ReadAhead bounds the memory of the reader in bytes: sealed and
	// decoded blobs fetched ahead of the caller (0: DefaultReadAhead).
	ReadAhead int64
	// Requests bounds the range requests in flight (0: the backend's
	// Connections, at least 2).
	Requests int
}

// FileReader reads the content of a file (its data blobs, in order) from
// the repository. It plans its reads by pack, a batch of the file at a
// time: the batch's blobs are grouped by pack and sorted by offset, and
// blobs stored next to each other (or close: MaxRangeGap) are fetched with
// one range request. Up to Requests such requests run ahead of the caller,
// within a window of ReadAhead bytes (sealed and decoded), so memory stays
// bounded whatever the file's size. A blob repeated within a batch is
// fetched once. Every blob is authenticated and checked against its ID
// (Repository.LoadBlob's checks); an error names the blob and its offset in
// the file, and everything before that offset has been returned intact.
//
// It takes no lock: callers reading on behalf of a command hold a reader
// lock (DumpFile does). Call Close when done (it stops the read-ahead and
// waits for it). Not safe for concurrent use.
type FileReader struct {
	r      *Repository
	ctx    context.Context
	cancel context.CancelCauseFunc
	queue  chan *readBatch // planned batches, in file order
	wg     sync.WaitGroup
	window *semaphore.Weighted
	slots  chan struct{} // one per request in flight

	cur  *readBatch // batch being consumed
	item int        // next item of cur
	rest []byte     // unread plaintext of the current blob
	off  int64      // bytes returned so far
	err  error      // sticky
}

// readBatch is a stretch of the file: its blobs in file order and the
// range requests that fetch them.
type readBatch struct {
	items   []batchItem
	fetches []*rangeFetch
	cost    int64 // window bytes held until the batch is consumed
	err     error // a planning failure (e.g. a blob missing from the index) after the items
}

// batchItem is one blob of the file: segment seg of fetch f, at offset
// off of the file.
type batchItem struct {
	f   *rangeFetch
	seg int
	off int64
}

// rangeFetch is one range request of one pack and the blobs decoded from it.
type rangeFetch struct {
	pack       ID
	start, end int64     // sealed byte range in the pack
	segs       []segment // distinct blobs of the range, by offset
	done       chan struct{}
	plain      []byte // backs the segments' plaintext (from readBufs)
}

// readBufs recycles the buffers of range requests (sealed bytes, and
// decoded ones once their batch is consumed): reading a large file
// otherwise allocates (and clears) its size twice over.
var readBufs sync.Pool // of *[]byte

func getReadBuf(n int) []byte {
	if p, ok := readBufs.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

func putReadBuf(b []byte) {
	if cap(b) > 0 {
		readBufs.Put(&b)
	}
}

type segment struct {
	entry pack.Entry
	plain []byte
	err   error
}

// Limits: the window cost of one range request (sealed range + decoded
// blobs), and the blobs of one batch (duplicates included).
const (
	fetchMinCost   = 256 << 10
	fetchMaxCost   = 16 << 20
	batchMaxItems  = 16384
	readQueueDepth = 64
	decodeSlack    = 64 // > zstd's compressedBlockOverAlloc (16)
)

// NewFileReader returns a reader of file node n's content. ctx bounds the
// reader's whole life (every Read).
func (r *Repository) NewFileReader(ctx context.Context, n *data.Node, opts FileReaderOptions) (*FileReader, error) {
	if n.Type != data.NodeFile {
		return nil, fmt.Errorf("%s is not a regular file", n.FileName())
	}
	return r.NewContentReader(ctx, n.Content, opts), nil
}

// NewContentReader returns a reader of the concatenated data blobs ids (a
// file's content); see FileReader.
func (r *Repository) NewContentReader(ctx context.Context, ids []ID, opts FileReaderOptions) *FileReader {
	if opts.ReadAhead <= 0 {
		opts.ReadAhead = DefaultReadAhead
	}
	if opts.Requests <= 0 {
		opts.Requests = max(2, r.be.Properties().Connections)
	}
	fr := &FileReader{r: r, queue: make(chan *readBatch, readQueueDepth)}
	fr.ctx, fr.cancel = context.WithCancelCause(ctx)
	if len(ids) == 0 {
		close(fr.queue)
		return fr
	}
	fr.window = semaphore.NewWeighted(opts.ReadAhead)
	fr.slots = make(chan struct{}, opts.Requests)
	// A few requests per slot fit in the window, and a few batches, so
	// the backend stays busy while the caller consumes the oldest batch.
	fetchCost := min(max(opts.ReadAhead/int64(2*opts.Requests), fetchMinCost), fetchMaxCost, opts.ReadAhead)
	batchCost := max(opts.ReadAhead/4, fetchCost)
	fr.wg.Add(1)
	go fr.plan(ids, opts.ReadAhead, batchCost, fetchCost)
	return fr
}

// plan cuts the file into batches and starts their range requests as the
// window and the request slots allow.
func (fr *FileReader) plan(ids []ID, window, batchCost, fetchCost int64) {
	defer fr.wg.Done()
	defer close(fr.queue)
	ctx := fr.ctx
	type blob struct {
		e    pack.Entry
		pack ID
		f    *rangeFetch
		seg  int
	}
	var off int64
	for len(ids) > 0 {
		// 1. Look up the batch's blobs, in file order.
		b := &readBatch{}
		var blobs []*blob
		var uses []*blob // per item
		seen := map[ID]*blob{}
		for len(ids) > 0 && b.cost < batchCost && len(uses) < batchMaxItems {
			id := ids[0]
			if bl := seen[id]; bl != nil {
				uses = append(uses, bl)
				ids = ids[1:]
				continue
			}
			h := pack.BlobHandle{ID: id, Type: pack.DataBlob}
			loc, ok, err := fr.r.cache.Lookup(ctx, h)
			if err == nil && !ok {
				err = fmt.Errorf("data blob %s: %w", id, ErrBlobNotFound)
			}
			if err != nil {
				var o int64
				for _, u := range uses {
					o += int64(u.e.RawLength)
				}
				b.err = fmt.Errorf("file offset %d: %w", off+o, err)
				ids = nil
				break
			}
			bl := &blob{e: loc.Entry(h), pack: loc.Pack}
			seen[id] = bl
			blobs = append(blobs, bl)
			uses = append(uses, bl)
			b.cost += int64(bl.e.Length) + int64(bl.e.RawLength)
			ids = ids[1:]
		}
		// 2. Group by pack and offset into range requests.
		rank := map[ID]int{} // packs in the order the file first needs them
		for _, bl := range blobs {
			if _, ok := rank[bl.pack]; !ok {
				rank[bl.pack] = len(rank)
			}
		}
		sort.Slice(blobs, func(i, j int) bool {
			if ri, rj := rank[blobs[i].pack], rank[blobs[j].pack]; ri != rj {
				return ri < rj
			}
			return blobs[i].e.Offset < blobs[j].e.Offset
		})
		var fetches []*rangeFetch
		var cost, total int64 // of the last request; of all (gaps included)
		for _, bl := range blobs {
			bStart, bEnd := int64(bl.e.Offset), int64(bl.e.Offset)+int64(bl.e.Length)
			f := (*rangeFetch)(nil)
			if n := len(fetches); n > 0 {
				f = fetches[n-1]
			}
			if f == nil || f.pack != bl.pack || bStart < f.end || bStart-f.end > MaxRangeGap ||
				cost+(bEnd-f.end)+int64(bl.e.RawLength) > fetchCost {
				f = &rangeFetch{pack: bl.pack, start: bStart, end: bStart, done: make(chan struct{})}
				fetches = append(fetches, f)
				cost = 0
			}
			cost += bEnd - f.end + int64(bl.e.RawLength)
			total += bEnd - f.end + int64(bl.e.RawLength)
			f.end = bEnd
			f.segs = append(f.segs, segment{entry: bl.e})
			bl.f, bl.seg = f, len(f.segs)-1
		}
		b.fetches = fetches
		b.items = make([]batchItem, len(uses))
		for i, u := range uses {
			b.items[i] = batchItem{f: u.f, seg: u.seg, off: off}
			off += int64(u.e.RawLength)
		}
		// 3. Start them, in the order the file needs them.
		order := make([]*rangeFetch, 0, len(fetches))
		started := make(map[*rangeFetch]bool, len(fetches))
		for _, it := range b.items {
			if !started[it.f] {
				started[it.f] = true
				order = append(order, it.f)
			}
		}
		b.cost = min(total+decodeSlack*int64(len(fetches)), window)
		if err := fr.window.Acquire(ctx, b.cost); err != nil {
			return
		}
		select {
		case fr.queue <- b:
		case <-ctx.Done():
			return
		}
		for _, f := range order {
			select {
			case fr.slots <- struct{}{}:
			case <-ctx.Done():
				// Not started: its waiter sees the context's end.
				return
			}
			fr.wg.Add(1)
			go fr.run(f)
		}
	}
}

// run fetches f's range and decodes its blobs.
func (fr *FileReader) run(f *rangeFetch) {
	defer fr.wg.Done()
	defer close(f.done)
	defer func() { <-fr.slots }()
	ctx := fr.ctx
	sealed := getReadBuf(int(f.end - f.start))
	defer putReadBuf(sealed)
	h := backend.Handle{Type: backend.PackFile, Name: f.pack.String()}
	err := fr.r.be.Load(ctx, h, len(sealed), f.start, func(rd io.Reader) error {
		_, err := io.ReadFull(rd, sealed)
		return err
	})
	if err != nil {
		if errors.Is(err, backend.ErrNotFound) && ctx.Err() == nil {
			// The cache may be stale (a prune repacked these blobs):
			// LoadBlob re-syncs the index and finds their new place.
			for i := range f.segs {
				s := &f.segs[i]
				s.plain, s.err = fr.r.LoadBlob(ctx, s.entry.BlobHandle, nil)
			}
			return
		}
		for i := range f.segs {
			f.segs[i].err = &BlobError{Handle: f.segs[i].entry.BlobHandle, Pack: f.pack, Err: err}
		}
		return
	}
	var raw int
	for _, s := range f.segs {
		raw += int(s.entry.RawLength)
	}
	// Each blob is decoded in place into one buffer, in order. The room
	// after a blob (the next blobs' place, and decodeSlack at the end)
	// lets zstd use its fast copies, which may write a few bytes past the
	// end of their output: the next blob overwrites them.
	plain := getReadBuf(raw + decodeSlack)
	f.plain = plain
	pos := 0
	for i := range f.segs {
		s := &f.segs[i]
		e := s.entry
		b := sealed[int64(e.Offset)-f.start : int64(e.Offset)+int64(e.Length)-f.start]
		s.plain, s.err = fr.r.DecodeBlob(e, f.pack, b, plain[pos:pos])
		pos += int(e.RawLength)
	}
}

// advance makes rest the next blob's plaintext.
func (fr *FileReader) advance() error {
	if fr.err != nil {
		return fr.err
	}
	for fr.cur == nil || fr.item == len(fr.cur.items) {
		if fr.cur != nil {
			if fr.cur.err != nil {
				return fr.fail(fr.cur.err)
			}
			fr.window.Release(fr.cur.cost)
			for _, f := range fr.cur.fetches {
				// Consumed: no segment of f is referenced any more.
				putReadBuf(f.plain)
				f.plain = nil
			}
			fr.cur = nil
		}
		var b *readBatch
		var ok bool
		select {
		case b, ok = <-fr.queue:
		case <-fr.ctx.Done():
			return fr.fail(context.Cause(fr.ctx))
		}
		if !ok {
			if fr.ctx.Err() != nil {
				return fr.fail(context.Cause(fr.ctx))
			}
			return fr.fail(io.EOF)
		}
		fr.cur, fr.item = b, 0
	}
	it := fr.cur.items[fr.item]
	fr.item++
	select {
	case <-it.f.done:
	case <-fr.ctx.Done():
		return fr.fail(context.Cause(fr.ctx))
	}
	s := &it.f.segs[it.seg]
	if s.err != nil {
		return fr.fail(fmt.Errorf("file offset %d: %w", it.off, s.err))
	}
	fr.rest = s.plain
	return nil
}

// fail records err (sticky) and stops the read-ahead.
func (fr *FileReader) fail(err error) error {
	fr.err = err
	fr.cancel(err)
	return err
}

// Read implements io.Reader.
func (fr *FileReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, fr.err
	}
	for len(fr.rest) == 0 {
		if err := fr.advance(); err != nil {
			return 0, err
		}
	}
	n := copy(p, fr.rest)
	fr.rest = fr.rest[n:]
	fr.off += int64(n)
	return n, nil
}

// WriteTo implements io.WriterTo: it writes the decoded blobs straight to
// w, without copying them through a caller's buffer.
func (fr *FileReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(fr.rest) == 0 {
			if err := fr.advance(); err != nil {
				if err == io.EOF {
					return total, nil
				}
				return total, err
			}
		}
		n, err := w.Write(fr.rest)
		fr.rest = fr.rest[n:]
		fr.off += int64(n)
		total += int64(n)
		if err != nil {
			fr.fail(err)
			return total, err
		}
		if len(fr.rest) > 0 {
			fr.fail(io.ErrShortWrite)
			return total, io.ErrShortWrite
		}
	}
}

// Offset returns the number of bytes read so far.
func (fr *FileReader) Offset() int64 { return fr.off }

// Close stops the read-ahead and waits for its goroutines. Reading after
// Close fails.
func (fr *FileReader) Close() error {
	fr.cancel(errReaderClosed)
	fr.wg.Wait()
	fr.rest, fr.cur = nil, nil
	if fr.err == nil {
		fr.err = errReaderClosed
	}
	return nil
}

var errReaderClosed = errors.New("repo: file reader closed")
