package data

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Split directories (format version 2, docs/FORMAT.md §9.3).
//
// A directory whose canonical tree would be larger than the split threshold
// is stored as several part trees (ordinary node lists, each holding a run
// of the directory's entries in name order) and one index tree naming them:
//
//	{"nodes":[],"parts":[{"first":"a.jpg","count":3512,"subtree":"<id>"},...]}
//
// The directory's node points at the index (Node.Subtree), so everything
// that follows subtrees by ID sees one more level. Part boundaries are
// content-defined on the entry names (a keyed hash of the name picks the
// cut points, with a minimum and a maximum part size), so a file added,
// removed or changed in a directory of a million entries changes one part
// and the index, and the other parts deduplicate.

// TreePart is one part of a split directory: the exact name of its first
// entry, its number of entries and its tree blob.
type TreePart struct {
	First    string `json:"first"`
	FirstRaw []byte `json:"first_raw,omitempty"`
	Count    uint64 `json:"count"`
	Subtree  ID     `json:"subtree"`
}

// FirstName returns the exact name of the part's first entry.
func (p *TreePart) FirstName() string {
	if p.FirstRaw != nil {
		return string(p.FirstRaw)
	}
	return p.First
}

// maxTreeParts bounds the parts of one split directory (an index of a
// million parts is ~150 MB of JSON, more than a blob holds anyway).
const maxTreeParts = 1_000_000

// badEntryName reports whether name cannot be a directory entry.
func badEntryName(name string) bool {
	return name == "" || name == "." || name == ".." || strings.IndexByte(name, '/') >= 0 || strings.IndexByte(name, 0) >= 0
}

// validParts checks a split directory's index (DecodeTree): no nodes, at
// least one part, first names valid and strictly increasing, counts
// between 1 and maxTreeNodes.
func validParts(t *Tree) error {
	if len(t.Nodes) > 0 {
		return fmt.Errorf("tree has both nodes and parts: %w", ErrCorrupt)
	}
	if len(t.Parts) == 0 || len(t.Parts) > maxTreeParts {
		return fmt.Errorf("split directory with %d parts: %w", len(t.Parts), ErrCorrupt)
	}
	prev := ""
	for i := range t.Parts {
		p := &t.Parts[i]
		if p.FirstRaw != nil && len(p.FirstRaw) == 0 {
			return fmt.Errorf("part %d has an empty raw first name: %w", i, ErrCorrupt)
		}
		name := p.FirstName()
		if badEntryName(name) {
			return fmt.Errorf("part %d has invalid first name %q: %w", i, name, ErrCorrupt)
		}
		if i > 0 && name <= prev {
			return fmt.Errorf("parts not sorted/unique at %q: %w", name, ErrCorrupt)
		}
		prev = name
		if p.Count == 0 || p.Count > maxTreeNodes {
			return fmt.Errorf("part %q has %d entries: %w", name, p.Count, ErrCorrupt)
		}
	}
	return nil
}

// CheckPart verifies part i of split directory idx as loaded: a node list
// (parts do not nest), as many nodes as the index says, the first one the
// index's first name, the last one below the next part's first name.
func CheckPart(idx *Tree, i int, part *Tree) error {
	p := &idx.Parts[i]
	switch {
	case len(part.Parts) > 0:
		return fmt.Errorf("part %d (%s) is itself split: %w", i, p.Subtree.Short(), ErrCorrupt)
	case uint64(len(part.Nodes)) != p.Count:
		return fmt.Errorf("part %d (%s) has %d entries, the index says %d: %w", i, p.Subtree.Short(), len(part.Nodes), p.Count, ErrCorrupt)
	case part.Nodes[0].FileName() != p.FirstName():
		return fmt.Errorf("part %d (%s) starts at %q, the index says %q: %w", i, p.Subtree.Short(), part.Nodes[0].FileName(), p.FirstName(), ErrCorrupt)
	case i+1 < len(idx.Parts) && part.Nodes[len(part.Nodes)-1].FileName() >= idx.Parts[i+1].FirstName():
		return fmt.Errorf("part %d (%s) reaches into the next part: %w", i, p.Subtree.Short(), ErrCorrupt)
	}
	return nil
}

// EachPart calls fn with every node list of directory tree t: t itself, or
// each part of a split directory in order, loaded with load and checked
// (CheckPart); one part is in memory at a time.
func EachPart(ctx context.Context, load TreeLoader, t *Tree, fn func(i int, part *Tree) error) error {
	if len(t.Parts) == 0 {
		return fn(0, t)
	}
	for i := range t.Parts {
		if err := ctx.Err(); err != nil {
			return err
		}
		part, err := load(ctx, t.Parts[i].Subtree)
		if err != nil {
			return err
		}
		if err := CheckPart(t, i, part); err != nil {
			return err
		}
		if err := fn(i, part); err != nil {
			return err
		}
	}
	return nil
}

// eachNode calls fn for every node of directory tree t in name order
// (split or not, see EachPart).
func EachNode(ctx context.Context, load TreeLoader, t *Tree, fn func(*Node) error) error {
	return EachPart(ctx, load, t, func(_ int, part *Tree) error {
		for _, n := range part.Nodes {
			if err := fn(n); err != nil {
				return err
			}
		}
		return nil
	})
}

// ErrDirectoryTooLarge: a split directory has more entries than a reader
// loads at once (repo.LoadTree); streaming readers (restore, ls, check, prune,
// copy, stats) have no such limit.
var ErrDirectoryTooLarge = fmt.Errorf("directory has more than %d entries to load at once", maxTreeNodes)

// AssembleTree returns split directory t as one node list.
func AssembleTree(ctx context.Context, load TreeLoader, t *Tree) (*Tree, error) {
	var total uint64
	for i := range t.Parts {
		total += t.Parts[i].Count
	}
	if total > maxTreeNodes {
		return nil, fmt.Errorf("split directory of %d entries: %w", total, ErrDirectoryTooLarge)
	}
	out := &Tree{Nodes: make([]*Node, 0, total)}
	err := EachPart(ctx, load, t, func(_ int, part *Tree) error {
		out.Nodes = append(out.Nodes, part.Nodes...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TreeCursor looks up names in increasing order in a directory tree,
// holding one part of a split directory at a time (the archiver's view of
// the parent snapshot's directory). A part that fails to load reads as
// empty: the parent only saves work.
type TreeCursor struct {
	ctx    context.Context
	load   TreeLoader
	t      *Tree
	loaded int // part in nodes, -1: none
	nodes  []*Node
	i      int
}

func NewTreeCursor(ctx context.Context, load TreeLoader, t *Tree) *TreeCursor {
	c := &TreeCursor{ctx: ctx, load: load, t: t, loaded: -1}
	if t != nil && len(t.Parts) == 0 {
		c.nodes, c.loaded = t.Nodes, 0
	}
	return c
}

// Find returns the node named name or nil; successive names must increase.
func (c *TreeCursor) Find(name string) *Node {
	if c == nil || c.t == nil {
		return nil
	}
	if parts := c.t.Parts; len(parts) > 0 {
		j := sort.Search(len(parts), func(k int) bool { return parts[k].FirstName() > name }) - 1
		if j < 0 {
			return nil
		}
		if j != c.loaded {
			c.loaded, c.nodes, c.i = j, nil, 0
			if part, err := c.load(c.ctx, parts[j].Subtree); err == nil && CheckPart(c.t, j, part) == nil {
				c.nodes = part.Nodes
			}
		}
	}
	for c.i < len(c.nodes) && c.nodes[c.i].FileName() < name {
		c.i++
	}
	if c.i < len(c.nodes) && c.nodes[c.i].FileName() == name {
		return c.nodes[c.i]
	}
	return nil
}

// TreeIter returns the nodes of a directory tree in order, one part of a
// split directory in memory at a time; nil at the end or when a part does
// not load (err says why).
type TreeIter struct {
	ctx   context.Context
	load  TreeLoader
	t     *Tree
	part  int
	nodes []*Node
	i     int
	err   error
}

// Err returns why Next stopped early (nil at the true end).
func (it *TreeIter) Err() error { return it.err }

func NewTreeIter(ctx context.Context, load TreeLoader, t *Tree) *TreeIter {
	it := &TreeIter{ctx: ctx, load: load, t: t}
	if t != nil && len(t.Parts) == 0 {
		it.nodes = t.Nodes
	}
	return it
}

func (it *TreeIter) Next() *Node {
	for it.i >= len(it.nodes) {
		if it.t == nil || it.part >= len(it.t.Parts) {
			return nil
		}
		j := it.part
		it.part++
		part, err := it.load(it.ctx, it.t.Parts[j].Subtree)
		if err == nil {
			err = CheckPart(it.t, j, part)
		}
		if err != nil {
			it.t, it.err = nil, err
			return nil
		}
		it.nodes, it.i = part.Nodes, 0
	}
	n := it.nodes[it.i]
	it.i++
	return n
}

// FindInTree returns the node named name in directory tree t (nil: none),
// loading only the part of a split directory whose range holds the name.
func FindInTree(ctx context.Context, load TreeLoader, t *Tree, name string) (*Node, error) {
	if len(t.Parts) == 0 {
		return t.Find(name), nil
	}
	j := sort.Search(len(t.Parts), func(k int) bool { return t.Parts[k].FirstName() > name }) - 1
	if j < 0 {
		return nil, nil
	}
	part, err := load(ctx, t.Parts[j].Subtree)
	if err != nil {
		return nil, err
	}
	if err := CheckPart(t, j, part); err != nil {
		return nil, err
	}
	return part.Find(name), nil
}

// TreeLen returns the number of entries of directory tree t (split or not).
func TreeLen(t *Tree) int {
	if len(t.Parts) == 0 {
		return len(t.Nodes)
	}
	n := 0
	for i := range t.Parts {
		n += int(t.Parts[i].Count)
	}
	return n
}

// TreeSlice returns entries lo to hi (exclusive) of directory tree t,
// loading only the parts of a split directory that hold them.
func TreeSlice(ctx context.Context, load TreeLoader, t *Tree, lo, hi int) ([]*Node, error) {
	hi = min(hi, TreeLen(t))
	if lo >= hi {
		return nil, nil
	}
	if len(t.Parts) == 0 {
		return t.Nodes[lo:hi], nil
	}
	out := make([]*Node, 0, hi-lo)
	start := 0 // index of the part's first entry
	for i := range t.Parts {
		end := start + int(t.Parts[i].Count)
		if end > lo && start < hi {
			part, err := load(ctx, t.Parts[i].Subtree)
			if err != nil {
				return nil, err
			}
			if err := CheckPart(t, i, part); err != nil {
				return nil, err
			}
			out = append(out, part.Nodes[max(lo-start, 0):min(hi, end)-start]...)
		}
		if end >= hi {
			break
		}
		start = end
	}
	return out, nil
}
