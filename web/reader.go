package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// fileReader reads a file node's content blob by blob (every blob verified
// by LoadBlob), holding one decoded blob at a time. It is an io.ReadSeeker
// so http.ServeContent gives downloads a Content-Length and Range support:
// sequential reads need no index look-ups; the first seek elsewhere builds
// the table of blob offsets from the local index cache (blob lengths), and
// never reads a pack to do so. Not safe for concurrent use.
type fileReader struct {
	ctx context.Context
	r   *repo.Repository
	n   *data.Node

	pos      int64
	cur      int    // index in n.Content of the blob in buf; -1: none
	curStart int64  // file offset of buf[0]
	buf      []byte // plaintext of blob cur
	offsets  []int64
}

func newFileReader(ctx context.Context, r *repo.Repository, n *data.Node) *fileReader {
	return &fileReader{ctx: ctx, r: r, n: n, cur: -1}
}

// Size is the file's size as recorded in the snapshot.
func (f *fileReader) Size() int64 { return int64(f.n.Size) }

func (f *fileReader) load(i int, start int64) error {
	b, err := f.r.LoadBlob(f.ctx, pack.BlobHandle{ID: f.n.Content[i], Type: pack.DataBlob}, f.buf[:0])
	if err != nil {
		return fmt.Errorf("%s: %w", f.n.FileName(), err)
	}
	f.buf, f.cur, f.curStart = b, i, start
	return nil
}

// locate makes buf hold the blob containing f.pos; false at end of content.
func (f *fileReader) locate() (bool, error) {
	end := f.curStart + int64(len(f.buf))
	if f.cur >= 0 && f.pos >= f.curStart && f.pos < end {
		return true, nil
	}
	if f.pos == end || (f.cur < 0 && f.pos == 0) { // sequential: the next blob
		next := f.cur + 1
		start := end
		if f.cur < 0 {
			start = 0
		}
		for next < len(f.n.Content) {
			if err := f.load(next, start); err != nil {
				return false, err
			}
			if len(f.buf) > 0 {
				return true, nil
			}
			next++
		}
		return false, nil
	}
	if err := f.buildOffsets(); err != nil {
		return false, err
	}
	// The blob whose range holds pos: the last offset <= pos.
	i := sort.Search(len(f.n.Content), func(i int) bool { return f.offsets[i+1] > f.pos })
	if i >= len(f.n.Content) {
		return false, nil
	}
	if err := f.load(i, f.offsets[i]); err != nil {
		return false, err
	}
	if int64(len(f.buf)) != f.offsets[i+1]-f.offsets[i] {
		return false, fmt.Errorf("%s: blob %s is %d bytes, the index says %d: %w", f.n.FileName(), f.n.Content[i].Short(), len(f.buf), f.offsets[i+1]-f.offsets[i], repo.ErrCorrupt)
	}
	return true, nil
}

func (f *fileReader) buildOffsets() error {
	if f.offsets != nil {
		return nil
	}
	offs := make([]int64, len(f.n.Content)+1)
	for i, id := range f.n.Content {
		l, err := blobLength(f.ctx, f.r, id)
		if err != nil {
			return fmt.Errorf("%s: %w", f.n.FileName(), err)
		}
		offs[i+1] = offs[i] + l
	}
	f.offsets = offs
	return nil
}

func (f *fileReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.pos >= f.Size() {
		return 0, io.EOF
	}
	ok, err := f.locate()
	if err != nil {
		return 0, err
	}
	if !ok {
		// The content ended before the recorded size.
		return 0, fmt.Errorf("%s: content ends at %d, the snapshot records %d bytes: %w", f.n.FileName(), f.pos, f.Size(), repo.ErrCorrupt)
	}
	n := copy(p, f.buf[f.pos-f.curStart:])
	if rest := f.Size() - f.pos; int64(n) > rest {
		n = int(rest)
	}
	f.pos += int64(n)
	return n, nil
}

var errSeek = errors.New("web: seek before the start of the file")

func (f *fileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.Size()
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, errSeek
	}
	f.pos = offset
	return offset, nil
}
