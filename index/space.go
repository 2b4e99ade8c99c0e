package index

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// A full file system under an on-disk cache must not crash the process.
// Badger (v4, through ristretto's z.OpenMmapFile) creates its memtable,
// value log and table files as sparse files (ftruncate) and writes them
// through memory mappings: a page whose block cannot be allocated is a
// SIGBUS, a fatal Go runtime error in one of Badger's goroutines that no
// recover or debug.SetPanicOnFault (per goroutine, and only ours) can turn
// into an error. Badger has no option to preallocate them. So the cache keeps
// a reserve of free space that covers everything Badger may still write
// after the last check: two memtables flushed to level 0 and one compaction
// of small tables (see badgerOptions).
//
//   - OpenCache refuses a directory whose file system has less than
//     SpaceReserve free (ErrCacheNoSpace); the caller falls back to a
//     temporary directory, or to an in-memory cache.
//   - While open, the free space is checked every spaceCheckInterval (the
//     trim loop's ticker) and before writes once spaceCheckBytes were
//     queued since the last check. Below the reserve the cache degrades:
//     its content is copied into an in-memory Badger, the disk database is
//     closed (its memtable flush fits in the reserve) and the rest of the
//     run uses memory. Nothing is lost but later writes (the disk cache
//     stays consistent: it only lacks what came after), which the next run
//     merges again from the repository. Options.Warn hears of it once.
//
// What this cannot cover: another process taking all of the reserve
// between two checks (a quarter of a second apart) while Badger writes.

// SpaceReserve is the free space an on-disk cache keeps on its file system.
var SpaceReserve int64 = 48 << 20

const (
	spaceCheckInterval = 250 * time.Millisecond
	spaceCheckBytes    = 1 << 20
)

// ErrCacheNoSpace: the cache directory's file system has less free space
// than SpaceReserve. Callers fall back to another directory or to memory.
var ErrCacheNoSpace = errors.New("index: not enough free space for the cache")

// checkRoom returns an error wrapping ErrCacheNoSpace when dir's file
// system has less than SpaceReserve free.
func checkRoom(dir string) error {
	if free, ok := freeSpace(dir); ok && free < SpaceReserve {
		return fmt.Errorf("%w: %s free on the file system of %s, the cache keeps %d MiB free", ErrCacheNoSpace, byteString(free), dir, SpaceReserve>>20)
	}
	return nil
}

func byteString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// spaceGuard tracks the free space of an on-disk cache.
type spaceGuard struct {
	dir     string
	low     atomic.Bool  // the last check found less than the reserve
	pending atomic.Int64 // bytes queued for writing since the last check
}

// check statfs'es now and records whether the cache must degrade.
func (g *spaceGuard) check() bool {
	g.pending.Store(0)
	if checkRoom(g.dir) != nil {
		g.low.Store(true)
	}
	return g.low.Load()
}

// wrote accounts n bytes about to be written; it reports whether the cache
// must degrade first.
func (g *spaceGuard) wrote(n int) bool {
	if g.low.Load() {
		return true
	}
	if g.pending.Add(int64(n)) >= spaceCheckBytes {
		return g.check()
	}
	return false
}

// beforeWrite is called by every writing method, before it takes c.swap:
// when the guard says so, the cache degrades to memory first.
func (c *Cache) beforeWrite(n int) {
	if c.guard == nil || !c.guard.wrote(n) {
		return
	}
	c.degrade()
}

// degrade moves the cache into memory (see above). Safe to call more than
// once; it takes c.swap exclusively, so no reader or writer uses the disk
// database meanwhile.
func (c *Cache) degrade() {
	c.swap.Lock()
	defer c.swap.Unlock()
	if c.guard == nil {
		return
	}
	dir := c.guard.dir
	c.guard = nil
	mem, err := badger.Open(badgerOptions("", &Options{InMemory: true, Logf: c.opts.Logf}))
	if err == nil {
		err = copyDB(c.db, mem)
	}
	// Batches of the disk database are dropped: what they held is only
	// metadata that speeds up later runs (the file cache).
	for w := range c.writers {
		w.wb.Cancel()
		w.wb = mem.NewWriteBatch()
	}
	cerr := c.closeDB()
	c.db, c.dir, c.trimDir = mem, "", ""
	if err == nil && cerr != nil {
		err = cerr
	}
	if c.opts.Warn != nil {
		msg := fmt.Sprintf("the file system of cache %s is nearly full (less than %d MiB free): the cache continues in memory for this run", dir, SpaceReserve>>20)
		if err != nil {
			msg += fmt.Sprintf(" (copying it failed: %v; the rest of this run may read more from the repository)", err)
		}
		c.opts.Warn(msg)
	}
}

// copyDB copies every key of src into dst.
func copyDB(src, dst *badger.DB) error {
	wb := dst.NewWriteBatch()
	err := src.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := wb.Set(item.KeyCopy(nil), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		wb.Cancel()
		return err
	}
	return wb.Flush()
}

// MakeRoom reports whether the cache is in memory after making sure that
// n bytes can be written beside the reserve: an on-disk cache whose file
// system has less free space than that moves into memory first.
func (c *Cache) MakeRoom(n int64) bool {
	c.swap.RLock()
	g := c.guard
	c.swap.RUnlock()
	if g == nil {
		return true
	}
	if free, ok := freeSpace(g.dir); ok && free < SpaceReserve+n {
		c.degrade()
		return true
	}
	return false
}

// Degrade moves an on-disk cache into memory for the rest of the run (a
// write failed for lack of space). A cache in memory is left as it is.
func (c *Cache) Degrade() { c.degrade() }
