package repo

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Writing, checking and repairing split directories (format version 2,
// docs/FORMAT.md §9.3); the index format and its readers are in
// repo/data/treesplit.go.

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

// TreeBuilder stores a directory's nodes, given one at a time in strictly
// increasing name order, as one tree or (above the threshold) as a split
// directory. It keeps the encoded nodes only: at most the threshold plus
// one part, whatever the directory's size.
type TreeBuilder struct {
	up        *Uploader
	threshold int // 0: never split
	min, max  int
	div       uint64

	buf   []byte     // encoded nodes, each followed by ','
	marks []partMark // closed parts not stored yet (before the split)
	cur   partMark   // the open part, from cur.start to the end of buf
	split bool
	dry   bool
	parts []data.TreePart
	n     int
	prev  string
}

type partMark struct {
	start, end int
	first      string
	firstRaw   []byte
	count      uint64
}

// NewTreeBuilder returns a builder storing one directory through up.
func (up *Uploader) NewTreeBuilder() *TreeBuilder { return up.newTreeBuilder(false) }

// newTreeBuilder returns a builder; a dry one stores nothing and returns
// the IDs the trees would have (repair snapshots --dry-run).
func (up *Uploader) newTreeBuilder(dry bool) *TreeBuilder {
	b := &TreeBuilder{up: up, threshold: up.splitThreshold(), dry: dry}
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
func (b *TreeBuilder) cutAfter(name string) bool {
	h := b.up.r.key.BlobID([]byte(name))
	return binary.LittleEndian.Uint64(h[:8])%b.div == 0
}

// Add appends node n (after every node with a smaller name).
func (b *TreeBuilder) Add(ctx context.Context, n *data.Node) error {
	name := n.FileName()
	if b.n > 0 && name <= b.prev {
		return fmt.Errorf("tree builder: %q after %q: entries out of order", name, b.prev)
	}
	b.prev = name
	b.n++
	start := len(b.buf)
	var ok bool
	if b.buf, ok = data.AppendNode(b.buf, n); !ok {
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
func (b *TreeBuilder) close(end int) {
	b.cur.end = end
	b.marks = append(b.marks, b.cur)
	b.cur = partMark{start: end}
}

// flush stores the closed parts and drops their bytes.
func (b *TreeBuilder) flush(ctx context.Context) error {
	for _, m := range b.marks {
		id, err := b.save(ctx, b.buf[m.start:m.end])
		if err != nil {
			return err
		}
		b.parts = append(b.parts, data.TreePart{First: m.first, FirstRaw: m.firstRaw, Count: m.count, Subtree: id})
	}
	b.marks = b.marks[:0]
	n := copy(b.buf, b.buf[b.cur.start:])
	b.buf = b.buf[:n]
	b.cur.start = 0
	return nil
}

// save stores encoded nodes (each followed by ',') as one tree blob: the
// bytes EncodeTree writes for them.
func (b *TreeBuilder) save(ctx context.Context, nodes []byte) (ID, error) {
	if len(nodes) > 0 {
		nodes = nodes[:len(nodes)-1]
	}
	t := make([]byte, 0, len(nodes)+16)
	t = append(t, `{"nodes":[`...)
	t = append(t, nodes...)
	t = append(t, "]}\n"...)
	if b.dry {
		return b.up.r.key.BlobID(t), nil
	}
	id, _, err := b.up.SaveBlob(ctx, pack.TreeBlob, t)
	return id, err
}

// Finish stores what is left and returns the directory's tree ID.
func (b *TreeBuilder) Finish(ctx context.Context) (ID, error) {
	if !b.split {
		return b.save(ctx, b.buf)
	}
	if b.cur.count > 0 {
		b.close(len(b.buf))
	}
	if err := b.flush(ctx); err != nil {
		return ID{}, err
	}
	idx := &data.Tree{Nodes: []*data.Node{}, Parts: b.parts}
	if b.dry {
		enc, err := data.EncodeTree(idx)
		if err != nil {
			return ID{}, err
		}
		return b.up.r.key.BlobID(enc), nil
	}
	return b.up.saveTreeBlob(ctx, idx)
}

// Entries returns the number of nodes added.
func (b *TreeBuilder) Entries() int { return b.n }

// saveSplit stores sorted nodes through a TreeBuilder (SaveTree of a large
// directory in a version 2 repository).
func (up *Uploader) saveSplit(ctx context.Context, nodes []*data.Node) (ID, error) {
	b := up.NewTreeBuilder()
	for _, n := range nodes {
		if err := b.Add(ctx, n); err != nil {
			return ID{}, err
		}
	}
	return b.Finish(ctx)
}

// checkParts is check's walk of split directory t at path p: every part is
// checked as a tree (checkTree) and against the index (checkPart). It
// reports whether all is well.
func (r *Repository) checkParts(ctx context.Context, ri *repoIndex, sn *Snapshot, t *data.Tree, p string, res *CheckResult, clean map[ID]bool,
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
			err = data.CheckPart(t, i, part)
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

// splitTree is repair snapshots' version of tree for split directory tr
// (tree id) at path p. It reads one part at a time and writes the repaired
// directory through a TreeBuilder as it goes, so its memory is one part
// plus the entries renamed as damaged, whatever the directory's size. A
// part that is missing, damaged or inconsistent with the index is left out
// and its loss recorded (the entries from its first name on).
func (t *treeRepairer) splitTree(ctx context.Context, id ID, tr *data.Tree, p string) (ID, error) {
	b := t.up.newTreeBuilder(t.dry)
	load := func(ctx context.Context, id ID) (*data.Tree, error) { return t.r.loadTreeVia(ctx, t.ri, id) }
	// A damaged entry is renamed to a name free in the whole directory:
	// looked up in the part that would hold it (a part that cannot be
	// read counts as taken) and among the names given so far.
	given := map[string]bool{}
	rename := func(name string) string {
		c := name + ".damaged"
		for i := 2; ; i++ {
			if !given[c] {
				if n, err := data.FindInTree(ctx, load, tr, c); err == nil && n == nil {
					given[c] = true
					return c
				}
			}
			c = fmt.Sprintf("%s.damaged-%d", name, i)
		}
	}
	// Renamed entries sort later than their old name: they wait here, in
	// name order, until the stream passes their new name.
	var pending []*data.Node
	add := func(n *data.Node) error {
		for len(pending) > 0 && pending[0].FileName() < n.FileName() {
			if err := b.Add(ctx, pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		}
		return b.Add(ctx, n)
	}
	changed := false
	for i := range tr.Parts {
		tp := &tr.Parts[i]
		part, err := load(ctx, tp.Subtree)
		if err == nil && !t.ok(pack.BlobHandle{ID: tp.Subtree, Type: pack.TreeBlob}) {
			err = errMissingTree
		}
		if err == nil {
			err = data.CheckPart(tr, i, part)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ID{}, ctx.Err()
			}
			t.damaged = append(t.damaged, fmt.Sprintf("%s (the %d entries from %q on)", p, tp.Count, tp.FirstName()))
			changed = true
			continue
		}
		for _, n := range part.Nodes {
			nn, ch, err := t.node(ctx, n, p, rename)
			if err != nil {
				return ID{}, err
			}
			changed = changed || ch
			if nn.FileName() != n.FileName() {
				j := sort.Search(len(pending), func(k int) bool { return pending[k].FileName() > nn.FileName() })
				pending = slices.Insert(pending, j, nn)
				continue
			}
			if err := add(nn); err != nil {
				return ID{}, err
			}
		}
	}
	if !changed {
		// The parts written meanwhile are the directory's own when it was
		// split with the same parameters (same entries, same cuts: SaveBlob
		// stored none); otherwise nothing references them and prune
		// removes them.
		t.clean[id] = true
		return id, nil
	}
	for _, n := range pending {
		if err := b.Add(ctx, n); err != nil {
			return ID{}, err
		}
	}
	return b.Finish(ctx)
}

// LoadTreeBlob loads and decodes one tree blob as stored: a split
// directory's index, whose parts a caller reads with EachNode or TreeSlice
// (and FindNodeIn looks names up in), one part at a time.
func (r *Repository) LoadTreeBlob(ctx context.Context, id ID) (*data.Tree, error) {
	return r.loadTreeBlob(ctx, id)
}
