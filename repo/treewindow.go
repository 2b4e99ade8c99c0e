package repo

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// Tree blobs are read a window at a time: a tree that is not in memory is
// fetched with the bytes of its pack that end with it (a window), and the
// trees of that window are then read from memory. A backup stores a
// directory's tree after its subdirectories' (the archiver saves a tree
// when its children are done) and puts trees in packs of their own, so
// the bytes before a tree in its pack are, most of the time, the trees
// below it: on S3, where each range read is a round trip, a walk down a
// deep path (the source's absolute path, then year/month folders) costs
// one round trip instead of one per level (issue 14). The window is only
// transport: every blob is still decoded from its index location and
// authenticated against its ID by DecodeBlob, whatever else the window
// holds (data blobs of a mixed pack are fetched and ignored).
//
// The first window is treeWindowMin bytes, and each further one twice the
// last up to treeWindow: the levels just below the root were stored last,
// together at the end of the pack, so a dump of one file needs little,
// while a walk of a whole tree soon reads treeWindow at a time (about
// what a 400 Mbit/s link carries in one 80 ms round trip); on a slow link
// a dump then costs a few hundred KiB more than the trees it needs.
// treeWindowCache bounds the windows kept in memory (oldest dropped first).
var (
	treeWindowMin   = 256 << 10
	treeWindow      = 4 << 20
	treeWindowCache = 64 << 20
)

// treeWindows holds the pack windows read for trees, and the ones in
// flight, so that concurrent loads of trees of one window wait for its
// one read instead of sending their own.
type treeWindows struct {
	mu    sync.Mutex
	wins  []*treeWin // oldest first
	bytes int
	next  int // size of the next window (0: treeWindowMin)
}

type treeWin struct {
	pack       ID
	start, end int64         // [start, end) of the pack
	done       chan struct{} // closed when b or err is set
	b          []byte
	err        error
}

// find returns a window of pack p that holds [off, off+n), in flight or
// read.
func (w *treeWindows) find(p ID, off, n int64) *treeWin {
	for i := len(w.wins) - 1; i >= 0; i-- {
		x := w.wins[i]
		if x.pack == p && x.start <= off && off+n <= x.end {
			return x
		}
	}
	return nil
}

// drop removes x (a window whose read failed).
func (w *treeWindows) drop(x *treeWin) {
	for i, y := range w.wins {
		if y == x {
			w.wins = append(w.wins[:i], w.wins[i+1:]...)
			w.bytes -= int(x.end - x.start)
			return
		}
	}
}

// loadTreeBytes returns the plaintext of tree blob id, read through the
// tree windows. A tree the windows cannot give (not in the index, a
// window read failed) is loaded by LoadBlob, with its recovery from a
// stale cache.
func (r *Repository) loadTreeBytes(ctx context.Context, id ID) ([]byte, error) {
	h := pack.BlobHandle{ID: id, Type: pack.TreeBlob}
	loc, ok, err := r.cache.Lookup(ctx, h)
	if err != nil || !ok {
		return r.LoadBlob(ctx, h, nil)
	}
	return r.loadTreeBytesAt(ctx, h, loc)
}

// loadTreeBytesAt is loadTreeBytes with the tree's location already
// looked up (treeload_at.go).
func (r *Repository) loadTreeBytesAt(ctx context.Context, h pack.BlobHandle, loc index.Location) ([]byte, error) {
	if treeWindow <= 0 {
		return r.LoadBlob(ctx, h, nil)
	}
	sealed, err := r.treeWindowBytes(ctx, loc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return r.LoadBlob(ctx, h, nil)
	}
	return r.DecodeBlob(loc.Entry(h), loc.Pack, sealed, nil)
}

// treeWindowBytes returns the stored bytes at loc, from a window in memory
// or in flight, or from a new window read ending with them.
func (r *Repository) treeWindowBytes(ctx context.Context, loc index.Location) ([]byte, error) {
	off, n := int64(loc.Offset), int64(loc.Length)
	w := &r.treeWins
	w.mu.Lock()
	x := w.find(loc.Pack, off, n)
	if x == nil {
		size := w.next
		if size <= 0 {
			size = min(treeWindowMin, treeWindow)
		}
		w.next = min(2*size, treeWindow)
		end := off + n
		start := max(0, end-int64(max(size, int(n))))
		// Not again the bytes of a window of this pack (read or in
		// flight) that ends below the tree: a walk that goes on
		// forward in a pack (the next sibling's subtree, stored after
		// the last one's) reads each byte once. Reaching back a whole
		// window from every tree read 26 GB for the 60 MB of trees of
		// a restore of 150,000 files, 500 times over.
		for _, y := range w.wins {
			if y.pack == loc.Pack && y.end <= off && y.end > start {
				start = y.end
			}
		}
		x = &treeWin{pack: loc.Pack, start: start, end: end, done: make(chan struct{})}
		w.wins = append(w.wins, x)
		w.bytes += int(end - start)
		for w.bytes > treeWindowCache && len(w.wins) > 1 && w.wins[0] != x {
			old := w.wins[0]
			w.wins = w.wins[1:]
			w.bytes -= int(old.end - old.start)
		}
		w.mu.Unlock()
		b := make([]byte, end-start)
		err := r.be.Load(ctx, backend.Handle{Type: backend.PackFile, Name: loc.Pack.String()}, len(b), start,
			func(rd io.Reader) error {
				_, err := io.ReadFull(rd, b)
				return err
			})
		w.mu.Lock()
		if err != nil {
			x.err = err
			w.drop(x)
		} else {
			x.b = b
		}
		close(x.done)
	}
	w.mu.Unlock()
	select {
	case <-x.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if x.err != nil {
		return nil, x.err
	}
	if x.b == nil {
		return nil, errors.New("tree window: no bytes")
	}
	return x.b[off-x.start : off-x.start+n], nil
}
