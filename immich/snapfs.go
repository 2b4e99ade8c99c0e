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

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
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

// SnapshotFiles reads files of a snapshot straight from the repository:
// paths are resolved by repo.FindNodeIn (trees cached by ID, so resolving
// many files of one directory loads it once), contents are read by
// repo.FileReader (merged range requests with read-ahead).
type SnapshotFiles struct {
	r  *repo.Repository
	sn *repo.Snapshot
	// ReadAhead is each open file's read-ahead window in bytes (0:
	// repo.DefaultReadAhead). Set it before the first Open.
	ReadAhead int64
	mu        sync.Mutex
	trees     map[repo.ID]*data.Tree
}

// NewSnapshotFiles returns a FileSource over sn.
func NewSnapshotFiles(r *repo.Repository, sn *repo.Snapshot) *SnapshotFiles {
	return &SnapshotFiles{r: r, sn: sn, trees: map[repo.ID]*data.Tree{}}
}

// tree is a caching repo.TreeLoader.
func (s *SnapshotFiles) tree(ctx context.Context, id repo.ID) (*data.Tree, error) {
	s.mu.Lock()
	t, ok := s.trees[id]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := s.r.LoadTreeBlob(ctx, id) // as stored: FindNodeIn loads the one part of a split directory it needs
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.trees[id] = t
	s.mu.Unlock()
	return t, nil
}

// Node returns the snapshot node at absolute path p; an error matching
// os.ErrNotExist when there is none.
func (s *SnapshotFiles) Node(ctx context.Context, p string) (*data.Node, error) {
	p = path.Clean("/" + strings.TrimPrefix(p, "/"))
	if p == "/" {
		return nil, errors.New("the snapshot root is not a file")
	}
	n, err := data.FindNodeIn(ctx, s.tree, s.sn.Tree, p, "")
	if errors.Is(err, data.ErrNotADirectory) {
		// A file where a directory should be: the path does not exist.
		return nil, fmt.Errorf("%w: %w", err, os.ErrNotExist)
	}
	return n, err
}

func (s *SnapshotFiles) Stat(ctx context.Context, p string) (int64, error) {
	n, err := s.Node(ctx, p)
	if err != nil {
		return 0, err
	}
	if n.Type != data.NodeFile {
		return 0, fmt.Errorf("%s: not a regular file in the snapshot", p)
	}
	return int64(n.Size), nil
}

// Open returns a reader of the file at p; close it when done.
func (s *SnapshotFiles) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	n, err := s.Node(ctx, p)
	if err != nil {
		return nil, err
	}
	if n.Type != data.NodeFile {
		return nil, fmt.Errorf("%s: not a regular file in the snapshot", p)
	}
	return s.r.NewFileReader(ctx, n, repo.FileReaderOptions{ReadAhead: s.ReadAhead})
}
