package repo

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/immich-vault/immich-vault/pack"
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

// checkPart verifies part i of split directory idx as loaded: a node list
// (parts do not nest), as many nodes as the index says, the first one the
// index's first name, the last one below the next part's first name.
func checkPart(idx *Tree, i int, part *Tree) error {
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

// eachPart calls fn with every node list of directory tree t: t itself, or
// each part of a split directory in order, loaded with load and checked
// (checkPart); one part is in memory at a time.
func eachPart(ctx context.Context, load TreeLoader, t *Tree, fn func(i int, part *Tree) error) error {
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
		if err := checkPart(t, i, part); err != nil {
			return err
		}
		if err := fn(i, part); err != nil {
			return err
		}
	}
	return nil
}

// eachNode calls fn for every node of directory tree t in name order
// (split or not, see eachPart).
func eachNode(ctx context.Context, load TreeLoader, t *Tree, fn func(*Node) error) error {
	return eachPart(ctx, load, t, func(_ int, part *Tree) error {
		for _, n := range part.Nodes {
			if err := fn(n); err != nil {
				return err
			}
		}
		return nil
	})
}

// ErrDirectoryTooLarge: a split directory has more entries than a reader
// loads at once (LoadTree); streaming readers (restore, ls, check, prune,
// copy, stats) have no such limit.
var ErrDirectoryTooLarge = fmt.Errorf("directory has more than %d entries to load at once", maxTreeNodes)

// assembleTree returns split directory t as one node list.
func assembleTree(ctx context.Context, load TreeLoader, t *Tree) (*Tree, error) {
	var total uint64
	for i := range t.Parts {
		total += t.Parts[i].Count
	}
	if total > maxTreeNodes {
		return nil, fmt.Errorf("split directory of %d entries: %w", total, ErrDirectoryTooLarge)
	}
	out := &Tree{Nodes: make([]*Node, 0, total)}
	err := eachPart(ctx, load, t, func(_ int, part *Tree) error {
		out.Nodes = append(out.Nodes, part.Nodes...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// treeCursor looks up names in increasing order in a directory tree,
// holding one part of a split directory at a time (the archiver's view of
// the parent snapshot's directory). A part that fails to load reads as
// empty: the parent only saves work.
type treeCursor struct {
	ctx    context.Context
	load   TreeLoader
	t      *Tree
	loaded int // part in nodes, -1: none
	nodes  []*Node
	i      int
}

func newTreeCursor(ctx context.Context, load TreeLoader, t *Tree) *treeCursor {
	c := &treeCursor{ctx: ctx, load: load, t: t, loaded: -1}
	if t != nil && len(t.Parts) == 0 {
		c.nodes, c.loaded = t.Nodes, 0
	}
	return c
}

// find returns the node named name or nil; successive names must increase.
func (c *treeCursor) find(name string) *Node {
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
			if part, err := c.load(c.ctx, parts[j].Subtree); err == nil && checkPart(c.t, j, part) == nil {
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

// Split parameters of writers. Readers take any split; writers with equal
// parameters and key split a directory the same way (same part IDs).
const defaultTreeSplit = 4 << 20

// treeSplitEnv overrides the split threshold (bytes, at least 4096): tests
// make directories of a few thousand entries split.
const treeSplitEnv = "IMMICH_VAULT_TEST_TREE_SPLIT"

var treeSplitBytes = sync.OnceValue(func() int {
	if v, err := strconv.Atoi(os.Getenv(treeSplitEnv)); err == nil && v >= 4096 {
		return min(v, 32<<20)
	}
	return defaultTreeSplit
})

// splitThreshold returns the canonical tree size above which directories
// are stored split, 0 for never (version 1 repositories).
func (up *Uploader) splitThreshold() int {
	if up.r.cfg.Version < FormatV2 {
		return 0
	}
	return treeSplitBytes()
}

// treeBuilder stores a directory's nodes, given one at a time in strictly
// increasing name order, as one tree or (above the threshold) as a split
// directory. It keeps the encoded nodes only: at most the threshold plus
// one part, whatever the directory's size.
type treeBuilder struct {
	up        *Uploader
	threshold int // 0: never split
	min, max  int
	div       uint64

	buf   []byte     // encoded nodes, each followed by ','
	marks []partMark // closed parts not stored yet (before the split)
	cur   partMark   // the open part, from cur.start to the end of buf
	split bool
	parts []TreePart
	n     int
	prev  string
}

type partMark struct {
	start, end int
	first      string
	firstRaw   []byte
	count      uint64
}

func newTreeBuilder(up *Uploader) *treeBuilder {
	b := &treeBuilder{up: up, threshold: up.splitThreshold()}
	if b.threshold > 0 {
		b.max = b.threshold
		b.min = b.threshold / 16
		// A cut after an entry with probability 1/div: parts average
		// min + div entries of ~300 bytes, about a quarter of the threshold.
		b.div = uint64(max(1, b.threshold/4/300))
	}
	return b
}

// cutAfter reports whether a content-defined part boundary follows the
// entry name: a keyed hash (the blob-ID key), so boundaries depend on the
// names alone and reveal nothing about them.
func (b *treeBuilder) cutAfter(name string) bool {
	h := b.up.r.key.BlobID([]byte(name))
	return binary.LittleEndian.Uint64(h[:8])%b.div == 0
}

// add appends node n (after every node with a smaller name).
func (b *treeBuilder) add(ctx context.Context, n *Node) error {
	name := n.FileName()
	if b.n > 0 && name <= b.prev {
		return fmt.Errorf("tree builder: %q after %q: entries out of order", name, b.prev)
	}
	b.prev = name
	b.n++
	start := len(b.buf)
	var ok bool
	if b.buf, ok = appendNode(b.buf, n); !ok {
		// What EncodeTree's encoding/json fallback writes for this node.
		j, err := json.Marshal(n)
		if err != nil {
			return err
		}
		b.buf = append(b.buf[:start], j...)
	}
	b.buf = append(b.buf, ',')
	if b.threshold == 0 {
		return nil
	}
	if b.cur.count > 0 && len(b.buf)-b.cur.start > b.max {
		b.close(start) // this entry would make the part too large
	}
	if b.cur.count == 0 {
		b.cur.first, b.cur.firstRaw = n.Name, n.NameRaw
	}
	b.cur.count++
	if len(b.buf)-b.cur.start >= b.min && b.cutAfter(name) {
		b.close(len(b.buf))
	}
	if !b.split && len(b.buf) > b.threshold {
		b.split = true
	}
	if b.split && len(b.marks) > 0 {
		return b.flush(ctx)
	}
	return nil
}

// close ends the open part at end (the next one starts there).
func (b *treeBuilder) close(end int) {
	b.cur.end = end
	b.marks = append(b.marks, b.cur)
	b.cur = partMark{start: end}
}

// flush stores the closed parts and drops their bytes.
func (b *treeBuilder) flush(ctx context.Context) error {
	for _, m := range b.marks {
		id, err := b.save(ctx, b.buf[m.start:m.end])
		if err != nil {
			return err
		}
		b.parts = append(b.parts, TreePart{First: m.first, FirstRaw: m.firstRaw, Count: m.count, Subtree: id})
	}
	b.marks = b.marks[:0]
	n := copy(b.buf, b.buf[b.cur.start:])
	b.buf = b.buf[:n]
	b.cur.start = 0
	return nil
}

// save stores encoded nodes (each followed by ',') as one tree blob: the
// bytes EncodeTree writes for them.
func (b *treeBuilder) save(ctx context.Context, nodes []byte) (ID, error) {
	if len(nodes) > 0 {
		nodes = nodes[:len(nodes)-1]
	}
	t := make([]byte, 0, len(nodes)+16)
	t = append(t, `{"nodes":[`...)
	t = append(t, nodes...)
	t = append(t, "]}\n"...)
	id, _, err := b.up.SaveBlob(ctx, pack.TreeBlob, t)
	return id, err
}

// finish stores what is left and returns the directory's tree ID.
func (b *treeBuilder) finish(ctx context.Context) (ID, error) {
	if !b.split {
		return b.save(ctx, b.buf)
	}
	if b.cur.count > 0 {
		b.close(len(b.buf))
	}
	if err := b.flush(ctx); err != nil {
		return ID{}, err
	}
	return b.up.saveTreeBlob(ctx, &Tree{Nodes: []*Node{}, Parts: b.parts})
}

// entries returns the number of nodes added.
func (b *treeBuilder) entries() int { return b.n }

// saveSplit stores sorted nodes through a treeBuilder (SaveTree of a large
// directory in a version 2 repository).
func (up *Uploader) saveSplit(ctx context.Context, nodes []*Node) (ID, error) {
	b := newTreeBuilder(up)
	for _, n := range nodes {
		if err := b.add(ctx, n); err != nil {
			return ID{}, err
		}
	}
	return b.finish(ctx)
}

// treeIter returns the nodes of a directory tree in order, one part of a
// split directory in memory at a time; nil at the end or when a part does
// not load (err says why).
type treeIter struct {
	ctx   context.Context
	load  TreeLoader
	t     *Tree
	part  int
	nodes []*Node
	i     int
	err   error
}

func newTreeIter(ctx context.Context, load TreeLoader, t *Tree) *treeIter {
	it := &treeIter{ctx: ctx, load: load, t: t}
	if t != nil && len(t.Parts) == 0 {
		it.nodes = t.Nodes
	}
	return it
}

func (it *treeIter) next() *Node {
	for it.i >= len(it.nodes) {
		if it.t == nil || it.part >= len(it.t.Parts) {
			return nil
		}
		j := it.part
		it.part++
		part, err := it.load(it.ctx, it.t.Parts[j].Subtree)
		if err == nil {
			err = checkPart(it.t, j, part)
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

// checkParts is check's walk of split directory t at path p: every part is
// checked as a tree (checkTree) and against the index (checkPart). It
// reports whether all is well.
func (r *Repository) checkParts(ctx context.Context, ri *repoIndex, sn *Snapshot, t *Tree, p string, res *CheckResult, clean map[ID]bool,
	problem func(string, ...any), damage func(pack.BlobHandle, ID, string)) bool {
	ok := true
	for i := range t.Parts {
		id := t.Parts[i].Subtree
		if !r.checkTree(ctx, ri, sn, id, p, res, clean, problem, damage) {
			ok = false
			continue
		}
		part, err := r.loadTreeVia(ctx, ri, id)
		if err == nil {
			err = checkPart(t, i, part)
		}
		if err != nil {
			problem("snapshot %s: split directory %s: %v", sn.ID().Short(), p, err)
			res.Affected = append(res.Affected, AffectedFile{Snapshot: sn.ID().String(), Path: p, Blob: id.String()})
			delete(clean, id) // the part may be clean on its own, not as this directory's part
			ok = false
		}
	}
	return ok
}

// ErrSplitToV1: copy of a split directory into a version 1 repository,
// which cannot hold one.
var ErrSplitToV1 = errors.New("the snapshot holds a split directory (format version 2), which a version 1 repository cannot hold")

// copyParts copies the parts of split directory t (copyTree of each) and
// points t at the copies; the index itself is stored by copyTree. The
// parts stay as the source split them.
func (c *copier) copyParts(ctx context.Context, up *Uploader, t *Tree) error {
	if len(t.Parts) == 0 {
		return nil
	}
	if c.dst.cfg.Version < FormatV2 {
		return fmt.Errorf("copy: %w: copy it into a repository created by this version's init (format 2)", ErrSplitToV1)
	}
	for i := range t.Parts {
		sub, err := c.copyTree(ctx, up, t.Parts[i].Subtree)
		if err != nil {
			return err
		}
		t.Parts[i].Subtree = sub
	}
	return nil
}

// mergeParts returns split directory tr at path p as one node list for
// repair snapshots, leaving out the parts that are missing, damaged or
// inconsistent with the index (changed is then true and the loss is
// recorded). Memory: the directory's nodes; SaveTree splits it again.
func (t *treeRepairer) mergeParts(ctx context.Context, tr *Tree, p string) (*Tree, bool, error) {
	out := &Tree{Nodes: []*Node{}}
	changed := false
	for i := range tr.Parts {
		tp := &tr.Parts[i]
		part, err := t.r.loadTreeVia(ctx, t.ri, tp.Subtree)
		if err == nil && !t.ok(pack.BlobHandle{ID: tp.Subtree, Type: pack.TreeBlob}) {
			err = errMissingTree
		}
		if err == nil {
			err = checkPart(tr, i, part)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			t.damaged = append(t.damaged, fmt.Sprintf("%s (the %d entries from %q on)", p, tp.Count, tp.FirstName()))
			changed = true
			continue
		}
		out.Nodes = append(out.Nodes, part.Nodes...)
	}
	return out, changed, nil
}

// findInTree returns the node named name in directory tree t (nil: none),
// loading only the part of a split directory whose range holds the name.
func findInTree(ctx context.Context, load TreeLoader, t *Tree, name string) (*Node, error) {
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
	if err := checkPart(t, j, part); err != nil {
		return nil, err
	}
	return part.Find(name), nil
}

// LoadTreeBlob loads and decodes one tree blob as stored: a split
// directory's index, whose parts a caller reads with EachNode or TreeSlice
// (and FindNodeIn looks names up in), one part at a time.
func (r *Repository) LoadTreeBlob(ctx context.Context, id ID) (*Tree, error) {
	return r.loadTreeBlob(ctx, id)
}

// EachNode calls fn for every node of directory tree t in name order,
// loading the parts of a split directory with load one at a time.
func EachNode(ctx context.Context, load TreeLoader, t *Tree, fn func(*Node) error) error {
	return eachNode(ctx, load, t, fn)
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
			if err := checkPart(t, i, part); err != nil {
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
