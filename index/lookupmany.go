package index

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/immich-vault/immich-vault/pack"
)

// Batched lookups. A point lookup (Lookup, Has) costs one read transaction
// and one Badger get: a search through every level's tables, each reading
// the table's bloom filter, block index and a block through its memory
// mapping; after a trim (see read) those reads are minor page faults. A
// batch sorts its keys and walks them with one iterator in one
// transaction: a key a few entries past the previous one is reached with
// Next (the same or the following block, already mapped) instead of a new
// search, so a dense batch (a restore's plan for many files) costs a
// fraction of its point lookups. A sparse batch costs what its point
// lookups do.

// seekAfter is how many Next steps a batch takes towards its next key
// before it searches for it instead.
const seekAfter = 8

// batchKeys returns the blob keys of hs (one allocation) and the order of
// hs by key.
func batchKeys(hs []pack.BlobHandle) (keys []byte, order []int) {
	keys = make([]byte, len(hs)*blobKeySize)
	order = make([]int, len(hs))
	for i, h := range hs {
		blobKey((*[blobKeySize]byte)(keys[i*blobKeySize:]), h)
		order[i] = i
	}
	key := func(i int) []byte { return keys[i*blobKeySize:][:blobKeySize] }
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(bytes.Compare(key(a), key(b)), cmp.Compare(a, b))
	})
	return keys, order
}

// lookupBatch calls fn(i, value) for every committed hs[i], in key order,
// within one read transaction; value is valid only during the call.
func (c *Cache) lookupBatch(ctx context.Context, hs []pack.BlobHandle, fn func(i int, v []byte) error) error {
	if len(hs) == 0 {
		return nil
	}
	keys, order := batchKeys(hs)
	c.swap.RLock()
	defer c.swap.RUnlock()
	walk := c.dense(len(hs))
	return c.db.View(func(txn *badger.Txn) error {
		if walk {
			return walkBatch(ctx, c, txn, keys, order, fn)
		}
		for n, i := range order {
			if n%ctxCheckStep == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			c.read()
			item, err := txn.Get(keys[i*blobKeySize:][:blobKeySize])
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error { return fn(i, v) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// dense reports whether a batch of n random keys is dense enough to be
// walked: whether its keys are, on average, at most seekAfter entries
// apart in the cache. Otherwise each key is a point get: an iterator's
// search visits every level's table holding the key's range, where a get
// skips most of them by their bloom filters (in a cache of several levels a
// sparse batch cost 1.8 times its gets when searched with an iterator).
func (c *Cache) dense(n int) bool {
	if batchMode != 0 {
		return batchMode > 0
	}
	if n < minWalkBatch {
		return false
	}
	return uint64(n)*seekAfter >= c.entries()
}

// entries estimates the number of entries in the cache's tables (not its
// memtables). Reading the table list costs a record per table (thousands
// in a cache of 100 M blobs), so the count is reused for
// entriesRefresh.
func (c *Cache) entries() uint64 {
	now := time.Now().UnixNano()
	if at := c.entriesAt.Load(); at != 0 && now-at < int64(entriesRefresh) {
		return c.entriesEst.Load()
	}
	var n uint64
	for _, t := range c.db.Tables() {
		n += uint64(t.KeyCount)
	}
	c.entriesEst.Store(n)
	c.entriesAt.Store(now)
	return n
}

const entriesRefresh = time.Second

// batchMode forces every batch to be walked (> 0) or got (< 0); 0 lets
// dense decide. For tests.
var batchMode = 0

// minWalkBatch is the smallest batch that may be walked (dense): a smaller
// one is not worth reading the table list.
const minWalkBatch = 64

// walkBatch finds keys (in the given order) with one iterator.
func walkBatch(ctx context.Context, c *Cache, txn *badger.Txn, keys []byte, order []int, fn func(i int, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindBlob}})
	defer it.Close()
	sought := false
	for n, i := range order {
		if n%ctxCheckStep == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k := keys[i*blobKeySize:][:blobKeySize]
		// Walk towards k from the previous position; search for it when
		// it is further away.
		steps := 0
		for sought && it.Valid() && steps < seekAfter && bytes.Compare(it.Item().Key(), k) < 0 {
			it.Next()
			steps++
		}
		if !sought || (it.Valid() && bytes.Compare(it.Item().Key(), k) < 0) {
			it.Seek(k)
			sought = true
			steps = seekAfter
		}
		if steps > 0 {
			// A search or a walk of a few entries reads about what a
			// point read does.
			c.read()
		}
		if !it.Valid() || !bytes.Equal(it.Item().Key(), k) {
			continue
		}
		if err := it.Item().Value(func(v []byte) error { return fn(i, v) }); err != nil {
			return err
		}
	}
	return nil
}

// LookupMany looks up every handle of hs (committed entries only, like
// Lookup) in one read transaction: locs[i] is where hs[i] is stored when
// found[i]. hs may hold duplicates and be in any order.
func (c *Cache) LookupMany(ctx context.Context, hs []pack.BlobHandle) (locs []Location, found []bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	locs, found = make([]Location, len(hs)), make([]bool, len(hs))
	err = c.lookupBatch(ctx, hs, func(i int, v []byte) error {
		l, err := getLocation(v)
		if err != nil {
			return fmt.Errorf("lookup %v: %w", hs[i], err)
		}
		locs[i], found[i] = l, true
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("lookup %d blobs: %w", len(hs), err)
	}
	return locs, found, nil
}

// HasAll reports whether every handle of hs is stored or pending (Has for
// each, in one read transaction). An empty hs gives true.
func (c *Cache) HasAll(ctx context.Context, hs []pack.BlobHandle) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(hs) == 1 {
		return c.Has(ctx, hs[0])
	}
	// Like Has: the pending set first, then the committed entries.
	rest := make([]pack.BlobHandle, 0, len(hs))
	c.mu.Lock()
	for _, h := range hs {
		if _, ok := c.pending[h]; !ok {
			rest = append(rest, h)
		}
	}
	c.mu.Unlock()
	n := 0
	err := c.lookupBatch(ctx, rest, func(int, []byte) error { n++; return nil })
	if err != nil {
		return false, fmt.Errorf("lookup %d blobs: %w", len(rest), err)
	}
	// Duplicates in rest are counted once each: n counts calls.
	return n == len(rest), nil
}
