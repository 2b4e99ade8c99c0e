package data

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Errors of FindNode (repo.Repository.FindNode) and FindNodeIn. ErrPathNotFound matches fs.ErrNotExist too, so code
// that treats a snapshot like a file system (errors.Is(err, os.ErrNotExist))
// needs no special case.
var (
	// ErrPathNotFound: no entry at that path in the snapshot.
	ErrPathNotFound error = notFoundError{}
	// ErrNotADirectory: a path component before the last is not a directory.
	ErrNotADirectory = errors.New("not a directory")
)

type notFoundError struct{}

func (notFoundError) Error() string        { return "no such file or directory" }
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// TreeLoader loads a tree by ID; repo.Repository.LoadTree is one. A caller
// resolving many paths of one snapshot passes a caching one.
type TreeLoader func(ctx context.Context, id ID) (*Tree, error)

// FindNodeIn is repo.Repository.FindNode below tree root, loading trees with load. what
// names the snapshot in errors ("" to leave it out).
func FindNodeIn(ctx context.Context, load TreeLoader, root ID, p, what string) (*Node, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil, nil
	}
	in := ""
	if what != "" {
		in = " in snapshot " + what
	}
	// Messages read "/a/b: no such file or directory in snapshot 1a2b3c4d".
	comps := strings.Split(p[1:], "/")
	tree := root
	var node *Node
	for i, c := range comps {
		t, err := load(ctx, tree)
		if err != nil {
			return nil, err
		}
		if node, err = FindInTree(ctx, load, t, c); err != nil { // treesplit.go
			return nil, err
		}
		if node == nil {
			return nil, fmt.Errorf("%s: %w%s", p, ErrPathNotFound, in)
		}
		if i == len(comps)-1 {
			break
		}
		if node.Type != NodeDir || node.Subtree == nil {
			return nil, fmt.Errorf("%s: %w%s (looking up %s)", "/"+strings.Join(comps[:i+1], "/"), ErrNotADirectory, in, p)
		}
		tree = *node.Subtree
	}
	return node, nil
}
