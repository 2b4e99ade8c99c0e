package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/data"
)

// FileSeeker is a FileReader that can seek (an io.ReadSeekCloser, for
// http.ServeContent and WebDAV): it reads through one FileReader while the
// reads are sequential, so they keep the pack-planned read-ahead. A Seek
// elsewhere closes it; the next Read starts a new one at the blob holding
// the new offset and skips into that blob. Blob offsets come from the local
// index cache (plaintext lengths), built on the first seek that needs them,
// without reading a pack. Reads stop at the size the snapshot records; a
// content shorter than that is an error wrapping ErrCorrupt. Like
// FileReader it takes no lock and is not safe for concurrent use.
type FileSeeker struct {
	r       *Repository
	ctx     context.Context
	n       *data.Node
	opts    FileReaderOptions
	fr      *FileReader // nil: none started at pos yet
	pos     int64
	offsets []int64 // offsets[i]: file offset of blob i; offsets[len]: content end
}

// NewFileSeeker returns a seekable reader of file node n's content (n's
// Content up to its Size: give it regular files).
func (r *Repository) NewFileSeeker(ctx context.Context, n *data.Node, opts FileReaderOptions) *FileSeeker {
	return &FileSeeker{r: r, ctx: ctx, n: n, opts: opts}
}

// Size is the file's size as recorded in the snapshot.
func (s *FileSeeker) Size() int64 { return int64(s.n.Size) }

// errSeekNegative: a seek before the start of the file.
var errSeekNegative = errors.New("seek before the start of the file")

// Seek sets the offset of the next Read (io.Seeker).
func (s *FileSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.Size()
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, errSeekNegative
	}
	if offset != s.pos && s.fr != nil {
		s.fr.Close()
		s.fr = nil
	}
	s.pos = offset
	return offset, nil
}

// start opens a FileReader at s.pos.
func (s *FileSeeker) start() error {
	first, skip := 0, s.pos
	if s.pos > 0 {
		if err := s.buildOffsets(); err != nil {
			return err
		}
		// The blob whose range holds pos: the last offset <= pos.
		first = sort.Search(len(s.n.Content), func(i int) bool { return s.offsets[i+1] > s.pos })
		if first < len(s.n.Content) {
			skip = s.pos - s.offsets[first]
		} else {
			skip = 0
		}
	}
	s.fr = s.r.NewContentReader(s.ctx, s.n.Content[first:], s.opts)
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, s.fr, skip); err == io.EOF {
			return fmt.Errorf("%s: content ends before %d, the snapshot records %d bytes: %w", s.n.FileName(), s.pos, s.Size(), ErrCorrupt)
		} else if err != nil {
			return fmt.Errorf("%s: %w", s.n.FileName(), err)
		}
	}
	return nil
}

func (s *FileSeeker) buildOffsets() error {
	if s.offsets != nil {
		return nil
	}
	offs := make([]int64, len(s.n.Content)+1)
	for i, id := range s.n.Content {
		loc, ok, err := s.r.cache.Lookup(s.ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob})
		if err != nil {
			return fmt.Errorf("%s: %w", s.n.FileName(), err)
		}
		if !ok {
			return fmt.Errorf("%s: data blob %s: %w", s.n.FileName(), id.Short(), ErrBlobNotFound)
		}
		offs[i+1] = offs[i] + int64(loc.RawLength)
	}
	s.offsets = offs
	return nil
}

// Read reads the content at the current offset (io.Reader).
func (s *FileSeeker) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	rest := s.Size() - s.pos
	if rest <= 0 {
		return 0, io.EOF
	}
	if s.fr == nil {
		if err := s.start(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.fr.Read(p)
	s.pos += int64(n)
	if err == io.EOF {
		if n > 0 {
			return n, nil
		}
		// The content ended before the recorded size.
		return 0, fmt.Errorf("%s: content ends at %d, the snapshot records %d bytes: %w", s.n.FileName(), s.pos, s.Size(), ErrCorrupt)
	}
	return n, err
}

// Close stops the read-ahead (io.Closer).
func (s *FileSeeker) Close() error {
	if s.fr != nil {
		s.fr.Close()
		s.fr = nil
	}
	return nil
}
