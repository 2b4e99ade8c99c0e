package immich

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
)

// FileSource gives verify access to files by host path: the live file
// system, or a snapshot without restoring it. Safe for concurrent use.
type FileSource interface {
	// Stat returns the size of the regular file at p; os.ErrNotExist when
	// there is none.
	Stat(ctx context.Context, p string) (int64, error)
	Open(ctx context.Context, p string) (io.ReadCloser, error)
}

// OSFiles reads the live file system.
type OSFiles struct{}

func (OSFiles) Stat(_ context.Context, p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a regular file", p)
	}
	return fi.Size(), nil
}

func (OSFiles) Open(_ context.Context, p string) (io.ReadCloser, error) { return os.Open(p) }

// SnapshotFiles reads files of a snapshot straight from the repository.
type SnapshotFiles struct {
	r     *repo.Repository
	root  repo.ID
	mu    sync.Mutex
	trees map[string]*repo.Tree // directory path → tree
}

// NewSnapshotFiles returns a FileSource over sn.
func NewSnapshotFiles(r *repo.Repository, sn *repo.Snapshot) *SnapshotFiles {
	return &SnapshotFiles{r: r, root: sn.Tree, trees: map[string]*repo.Tree{}}
}

func (s *SnapshotFiles) tree(ctx context.Context, dir string) (*repo.Tree, error) {
	s.mu.Lock()
	t, ok := s.trees[dir]
	s.mu.Unlock()
	if ok {
		if t == nil {
			return nil, os.ErrNotExist
		}
		return t, nil
	}
	var id repo.ID
	if dir == "/" {
		id = s.root
	} else {
		parent, err := s.tree(ctx, path.Dir(dir))
		if err != nil {
			return nil, err
		}
		n := parent.Find(path.Base(dir))
		if n == nil || n.Type != repo.NodeDir || n.Subtree == nil {
			s.mu.Lock()
			s.trees[dir] = nil
			s.mu.Unlock()
			return nil, os.ErrNotExist
		}
		id = *n.Subtree
	}
	t, err := s.r.LoadTree(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.trees[dir] = t
	s.mu.Unlock()
	return t, nil
}

// Node returns the snapshot node at absolute path p.
func (s *SnapshotFiles) Node(ctx context.Context, p string) (*repo.Node, error) {
	p = path.Clean("/" + strings.TrimPrefix(p, "/"))
	if p == "/" {
		return nil, errors.New("the snapshot root is not a file")
	}
	t, err := s.tree(ctx, path.Dir(p))
	if err != nil {
		return nil, err
	}
	n := t.Find(path.Base(p))
	if n == nil {
		return nil, os.ErrNotExist
	}
	return n, nil
}

func (s *SnapshotFiles) Stat(ctx context.Context, p string) (int64, error) {
	n, err := s.Node(ctx, p)
	if err != nil {
		return 0, err
	}
	if n.Type != repo.NodeFile {
		return 0, fmt.Errorf("%s: not a regular file in the snapshot", p)
	}
	return int64(n.Size), nil
}

func (s *SnapshotFiles) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	n, err := s.Node(ctx, p)
	if err != nil {
		return nil, err
	}
	if n.Type != repo.NodeFile {
		return nil, fmt.Errorf("%s: not a regular file in the snapshot", p)
	}
	return io.NopCloser(NewContentReader(ctx, s.r, n.Content)), nil
}

// NewContentReader streams the concatenated data blobs ids (a file's content).
func NewContentReader(ctx context.Context, r *repo.Repository, ids []repo.ID) io.Reader {
	return &contentReader{ctx: ctx, r: r, ids: ids}
}

type contentReader struct {
	ctx context.Context
	r   *repo.Repository
	ids []repo.ID
	buf []byte
	cur []byte
}

func (c *contentReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if len(c.ids) == 0 {
			return 0, io.EOF
		}
		b, err := c.r.LoadBlob(c.ctx, pack.BlobHandle{ID: c.ids[0], Type: pack.DataBlob}, c.buf[:0])
		if err != nil {
			return 0, fmt.Errorf("load blob %s: %w", c.ids[0].Short(), err)
		}
		c.ids = c.ids[1:]
		c.buf, c.cur = b, b
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}
