package repo

import (
	"context"
	"sync"

	"github.com/immich-vault/immich-vault/repo/data"
)

// maxTreesAhead bounds the trees a walk has loaded ahead and not yet
// reached (memory), treeLoadsAhead the loads in flight at once.
const (
	maxTreesAhead  = 256
	treeLoadsAhead = 8
)

// treePrefetcher loads the subtrees of every tree a walk has seen in the
// background, so that a directory's children, grandchildren and a split
// directory's next part are in flight while the walk is still above them:
// on S3 each tree blob is a round trip, and a walk that loads them one
// directory at a time pays one per directory (issue 14). Loading ahead
// changes no result: get returns exactly what loadTreeBlob returns.
type treePrefetcher struct {
	r    *Repository
	sem  chan struct{}
	mu   sync.Mutex
	m    map[ID]chan treeLoad
	next map[ID]ID // a split directory's part → its next part
}

type treeLoad struct {
	t   *data.Tree
	err error
}

func newTreePrefetcher(r *Repository) *treePrefetcher {
	return &treePrefetcher{r: r, sem: make(chan struct{}, treeLoadsAhead), m: map[ID]chan treeLoad{}, next: map[ID]ID{}}
}

// prefetch starts loading id unless it is loading or loaded already or
// enough trees wait (then get loads it when the walk reaches it).
func (p *treePrefetcher) prefetch(ctx context.Context, id ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[id]; ok || len(p.m) >= maxTreesAhead {
		return
	}
	ch := make(chan treeLoad, 1)
	p.m[id] = ch
	go func() {
		// Queued, not dropped, while treeLoadsAhead loads are in flight:
		// a dropped subtree would break the chain of loads ahead.
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			ch <- treeLoad{nil, ctx.Err()}
			return
		}
		t, err := p.r.loadTreeBlob(ctx, id)
		<-p.sem
		ch <- treeLoad{t, err}
		if err == nil {
			p.ahead(ctx, t)
		}
	}()
}

// ahead prefetches what a walk of t reads next: its subdirectories, or a
// split directory's parts one after another.
func (p *treePrefetcher) ahead(ctx context.Context, t *data.Tree) {
	if len(t.Parts) > 0 {
		p.mu.Lock()
		for i := 0; i+1 < len(t.Parts); i++ {
			p.next[t.Parts[i].Subtree] = t.Parts[i+1].Subtree
		}
		p.mu.Unlock()
		p.prefetch(ctx, t.Parts[0].Subtree)
		return
	}
	for _, n := range t.Nodes {
		if n.Type == data.NodeDir && n.Subtree != nil {
			p.prefetch(ctx, *n.Subtree)
		}
	}
}

// get returns tree blob id (as loadTreeBlob does) and starts loading what
// comes after it.
func (p *treePrefetcher) get(ctx context.Context, id ID) (*data.Tree, error) {
	p.mu.Lock()
	ch, ok := p.m[id]
	delete(p.m, id)
	nextPart, hasNext := p.next[id]
	delete(p.next, id)
	p.mu.Unlock()
	if hasNext {
		p.prefetch(ctx, nextPart)
	}
	var res treeLoad
	if ok {
		res = <-ch
	} else {
		res.t, res.err = p.r.loadTreeBlob(ctx, id)
	}
	if res.err == nil {
		p.ahead(ctx, res.t)
	}
	return res.t, res.err
}
