package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/immich-vault/immich-vault/pack"
)

// Cache key space (schema version 1). Every key starts with a one-byte kind:
//
//	'v'                          → schemaVersion ("1")
//	'b' ‖ type u8 ‖ blobID[32]   → packID[32] ‖ compression u8 ‖ offset u32le ‖ length u32le ‖ rawLength u32le (45 bytes)
//	'f' ‖ indexFileID[32]        → empty (index file merged)
//	'm' ‖ metakey                → caller's value
//
// A cache whose 'v' value differs, or a non-empty cache without 'v', is
// wiped on open: the cache is rebuilt from the repository.
const (
	kindVersion  = 'v'
	kindBlob     = 'b'
	kindFile     = 'f'
	kindMeta     = 'm'
	blobKeySize  = 1 + 1 + idSize         // 34
	blobValSize  = idSize + 1 + 4 + 4 + 4 // 45
	fileKeySize  = 1 + idSize             // 33
	maxMetaKey   = 60000                  // Badger's key limit is 65000
	ctxCheckStep = 4096                   // iterations between ctx checks
)

var schemaVersion = []byte("1")

// ErrCacheLocked is returned (wrapped) by OpenCache when another Cache, in
// this or another process, has the directory open. Callers may fall back to
// a temporary cache directory.
var ErrCacheLocked = errors.New("index: cache directory in use by another process")

// Options tune the Badger cache.
type Options struct {
	// InMemory keeps everything in memory (for tests); dir is ignored.
	InMemory bool
	// MemTableSize, BlockCacheSize and IndexCacheSize override the
	// defaults (8 MiB, none and 16 MiB) when > 0.
	MemTableSize   int64
	BlockCacheSize int64
	IndexCacheSize int64
	// TrimInterval is how often the pages of Badger's memory-mapped table
	// files are released from this process (see trimMappings): 0 means
	// every 100 ms, a negative value never.
	TrimInterval time.Duration
	// Logf receives Badger's error messages; nil means log.Printf.
	// Badger's warnings and info messages are dropped.
	Logf func(format string, args ...any)
	// Warn hears (once) that an on-disk cache moved into memory because
	// its file system is nearly full (see space.go).
	Warn func(msg string)
}

// Cache is the Badger-backed merged index and metadata store. Safe for
// concurrent use, except BulkLoad (which reopens the database).
type Cache struct {
	db *badger.DB

	dir  string   // "" for an in-memory cache
	opts Options  // as given to OpenCache, for BulkLoad's reopening
	lock *os.File // the directory lock (see lock_unix.go), or nil

	trimDir string // the directory whose mappings are trimmed, or ""

	stopTrim chan struct{}
	trimDone chan struct{}
	trimOnce sync.Once
	// reads counts point reads (Lookup, Has, AddPending, GetMeta); every
	// trimEveryReads of them wake the trim loop (trimNow) early.
	reads   atomic.Int64
	trimNow chan struct{}
	// entriesEst is the number of entries in the tables when read at
	// entriesAt (unix ns; 0: never), for batched lookups (lookupmany.go).
	entriesEst atomic.Uint64
	entriesAt  atomic.Int64

	mu      sync.Mutex
	pending map[pack.BlobHandle]struct{}

	// swap is held shared by every method using db and exclusively by
	// degrade, which replaces db (space.go). guard is nil for a cache in
	// memory. writers are the open MetaWriters (degrade moves them).
	swap    sync.RWMutex
	guard   *spaceGuard
	writers map[*MetaWriter]struct{}
}

// errorLogger passes Badger's errors on and drops everything else.
type errorLogger struct{ logf func(string, ...any) }

func (l errorLogger) Errorf(f string, a ...any) {
	l.logf("index: badger: "+strings.TrimSuffix(f, "\n"), a...)
}
func (errorLogger) Warningf(string, ...any) {}
func (errorLogger) Infof(string, ...any)    {}
func (errorLogger) Debugf(string, ...any)   {}

// badgerOptions returns options for bounded memory. The entries are small
// fixed-size IDs and offsets, so: no compression (IDs don't compress), values
// inline in the LSM tree (ValueThreshold above 45 bytes), small memtables,
// and table indexes/bloom filters in a bounded cache instead of all in
// memory (IndexCacheSize > 0), which is what keeps memory independent of the
// number of entries. No block cache: without compression or encryption
// Badger reads blocks straight from the mapped tables, and the cache only
// added its bookkeeping to every lookup (a no-change re-scan of 50k files
// spent 17 % less user CPU without it; measured again with the trims after
// point reads, which make a read of the mapping a minor fault: Badger's
// gets took 0.56-0.73 s of CPU without a block cache, 0.87-1.06 s with
// 16 MiB).
func badgerOptions(dir string, o *Options) badger.Options {
	memTable, blockCache, indexCache := int64(8<<20), int64(0), int64(16<<20)
	if o.MemTableSize > 0 {
		memTable = o.MemTableSize
	}
	if o.BlockCacheSize > 0 {
		blockCache = o.BlockCacheSize
	}
	if o.IndexCacheSize > 0 {
		indexCache = o.IndexCacheSize
	}
	logf := o.Logf
	if logf == nil {
		logf = log.Printf
	}
	var bo badger.Options
	if o.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else {
		bo = badger.DefaultOptions(dir).WithBypassLockGuard(ownLock)
	}
	bo = bo.
		WithLogger(errorLogger{logf}).
		WithNumVersionsToKeep(1).
		WithCompression(options.None).
		WithMemTableSize(memTable).
		WithNumMemtables(2).
		WithBlockCacheSize(blockCache).
		WithIndexCacheSize(indexCache).
		WithValueThreshold(1 << 10).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithNumCompactors(2).
		WithMetricsEnabled(false)
	// Every level's tables are BaseTableSize (2 MiB): with Badger's
	// multiplier of 2 the last level's tables grow as the cache does (8 MiB
	// at 10 M blobs, 16 MiB at 100 M), and so do compaction's table
	// builders (twice the table size up front, growing in chunks as large,
	// up to 13 in flight per compaction while their tables are written):
	// 140 MiB of heap while copy added 9 M entries (issue 13), against
	// about 100 MiB with 2 MiB tables at any size.
	bo.TableSizeMultiplier = 1
	if strconv.IntSize == 32 {
		// 32-bit programs (linux/arm on a Raspberry Pi, 386): Badger maps
		// a value log file at twice its size, 2 GiB by default, which a
		// 32-bit address space cannot hold ("cannot allocate memory").
		// Values above the threshold are rare here; 64 MiB files suffice.
		bo = bo.WithValueLogFileSize(64 << 20)
	}
	return bo
}

// OpenCache opens (creating if needed) the cache in dir. A cache with another
// schema version is wiped and recreated. If dir is already open (in this or
// another process) the error wraps ErrCacheLocked. opts may be nil.
func OpenCache(dir string, opts *Options) (*Cache, error) {
	if opts == nil {
		opts = &Options{}
	}
	var lock *os.File
	if !opts.InMemory && ownLock {
		// Badger creates a missing directory; so does the lock.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open cache %s: %w", dir, err)
		}
		if err := checkRoom(dir); err != nil {
			return nil, fmt.Errorf("open cache %s: %w", dir, err)
		}
		var err error
		if lock, err = lockDir(dir); err != nil {
			if isLockError(err) {
				return nil, fmt.Errorf("open cache %s: %w (%w)", dir, ErrCacheLocked, err)
			}
			return nil, fmt.Errorf("open cache %s: %w", dir, err)
		}
	}
	db, err := badger.Open(badgerOptions(dir, opts))
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		if isLockError(err) {
			return nil, fmt.Errorf("open cache %s: %w (%w)", dir, ErrCacheLocked, err)
		}
		return nil, fmt.Errorf("open cache %s: %w", dir, err)
	}
	c := &Cache{db: db, opts: *opts, lock: lock, pending: make(map[pack.BlobHandle]struct{}), writers: map[*MetaWriter]struct{}{}}
	if !opts.InMemory {
		c.dir = dir
		if ownLock {
			c.guard = &spaceGuard{dir: dir}
		}
	}
	if err := c.checkSchema(); err != nil {
		db.Close()
		if lock != nil {
			lock.Close()
		}
		return nil, fmt.Errorf("open cache %s: %w", dir, err)
	}
	if !opts.InMemory && opts.TrimInterval >= 0 {
		every := opts.TrimInterval
		if every == 0 {
			every = 100 * time.Millisecond
		}
		abs, err := filepath.Abs(dir)
		if err == nil {
			c.trimDir = abs + string(filepath.Separator)
			// Opening read the index of every table through its mapping.
			trimMappings(c.trimDir)
			c.stopTrim, c.trimDone = make(chan struct{}), make(chan struct{})
			c.trimNow = make(chan struct{}, 1)
			go c.trimLoop(c.trimDir, every, c.guard)
		}
	}
	return c, nil
}

// Point reads between trims. A read faults in one page of a mapped table,
// and the kernel maps up to 15 cached neighbours with it (fault-around,
// 64 KiB; madvise(MADV_RANDOM) does not stop it): a stream of random
// lookups in a large cache (copy's or backup's "is this blob stored") made
// 100 to 700 MiB of table pages resident within the 250 ms between timed
// trims (issue 13). A trim after every trimEveryReads reads keeps that to
// about 15 MiB; trims are at most every minTrimGap. The timed trims (every
// 100 ms) release what compactions read and write: up to 75 MiB at 250 ms
// while copy added 9 M entries. A trim reads /proc/self/maps once
// (a fraction of a millisecond).
const (
	trimEveryReads = 256
	minTrimGap     = 20 * time.Millisecond
)

// read counts one point read and wakes the trim loop every trimEveryReads.
func (c *Cache) read() {
	if c.trimNow != nil && c.reads.Add(1)%trimEveryReads == 0 {
		select {
		case c.trimNow <- struct{}{}:
		default:
		}
	}
}

// trimLoop keeps the resident size independent of the index size by
// releasing the mapped table pages periodically and after every
// trimEveryReads point reads (they stay in the page cache: re-reading them
// costs a minor fault, not I/O).
// It also watches the free space (space.go): every spaceCheckInterval at
// most, so that the next write degrades the cache in time.
func (c *Cache) trimLoop(dir string, every time.Duration, g *spaceGuard) {
	defer close(c.trimDone)
	t := time.NewTicker(min(every, spaceCheckInterval))
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-c.stopTrim:
			return
		case <-c.trimNow:
			if time.Since(last) >= minTrimGap {
				trimMappings(dir)
				last = time.Now()
			}
			continue
		case <-t.C:
			if g != nil {
				g.check()
			}
			if time.Since(last) >= every {
				trimMappings(dir)
				last = time.Now()
			}
		}
	}
}

// isLockError recognises Badger's directory-lock failure. Badger formats the
// flock error into its message (no %w outside debug builds), so the message
// is matched as well as the errno.
func isLockError(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) ||
		strings.Contains(err.Error(), "Another process is using this Badger database")
}

func (c *Cache) checkSchema() error {
	var version []byte
	var empty = true
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		item, err := txn.Get([]byte{kindVersion})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		version, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if string(version) == string(schemaVersion) {
		return nil
	}
	if !empty {
		if err := c.db.DropAll(); err != nil {
			return fmt.Errorf("wipe cache of schema %q: %w", version, err)
		}
	}
	return c.writeSchema()
}

func (c *Cache) writeSchema() error {
	err := c.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte{kindVersion}, schemaVersion)
	})
	if err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// Close flushes and closes the database.
func (c *Cache) Close() error {
	c.swap.Lock()
	defer c.swap.Unlock()
	if err := c.closeDB(); err != nil {
		return fmt.Errorf("close cache: %w", err)
	}
	return nil
}

// closeDB stops the trim loop, closes the database and then releases the
// cache directory's lock. The caller holds c.swap exclusively.
func (c *Cache) closeDB() error {
	if c.stopTrim != nil {
		c.trimOnce.Do(func() {
			close(c.stopTrim)
			<-c.trimDone
		})
	}
	err := c.db.Close()
	if c.lock != nil {
		// After the database: its files are complete before another
		// process may open them.
		c.lock.Close()
		c.lock = nil
	}
	return err
}

func blobKey(dst *[blobKeySize]byte, h pack.BlobHandle) []byte {
	dst[0] = kindBlob
	dst[1] = byte(h.Type)
	copy(dst[2:], h.ID[:])
	return dst[:]
}

func putLocation(v []byte, l Location) {
	copy(v, l.Pack[:])
	v[idSize] = byte(l.Compression)
	binary.LittleEndian.PutUint32(v[idSize+1:], l.Offset)
	binary.LittleEndian.PutUint32(v[idSize+5:], l.Length)
	binary.LittleEndian.PutUint32(v[idSize+9:], l.RawLength)
}

func getLocation(v []byte) (Location, error) {
	var l Location
	if len(v) != blobValSize {
		return l, fmt.Errorf("index: cache value has %d bytes, want %d (delete the cache to rebuild it)", len(v), blobValSize)
	}
	copy(l.Pack[:], v)
	l.Compression = pack.Compression(v[idSize])
	l.Offset = binary.LittleEndian.Uint32(v[idSize+1:])
	l.Length = binary.LittleEndian.Uint32(v[idSize+5:])
	l.RawLength = binary.LittleEndian.Uint32(v[idSize+9:])
	return l, nil
}

// Lookup returns where h is stored (committed entries only, not pending ones).
func (c *Cache) Lookup(ctx context.Context, h pack.BlobHandle) (Location, bool, error) {
	c.swap.RLock()
	defer c.swap.RUnlock()
	if err := ctx.Err(); err != nil {
		return Location{}, false, err
	}
	c.read()
	var (
		k     [blobKeySize]byte
		l     Location
		found bool
	)
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(blobKey(&k, h))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(func(v []byte) error {
			l, err = getLocation(v)
			return err
		})
	})
	if err != nil {
		return Location{}, false, fmt.Errorf("lookup %v: %w", h, err)
	}
	return l, found, nil
}

// has reports whether h is committed, without reading its value.
func (c *Cache) has(h pack.BlobHandle) (bool, error) {
	c.swap.RLock()
	defer c.swap.RUnlock()
	c.read()
	var k [blobKeySize]byte
	found := false
	err := c.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(blobKey(&k, h))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lookup %v: %w", h, err)
	}
	return found, nil
}

// Has reports whether h is stored or pending.
func (c *Cache) Has(ctx context.Context, h pack.BlobHandle) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c.mu.Lock()
	_, ok := c.pending[h]
	c.mu.Unlock()
	if ok {
		return true, nil
	}
	return c.has(h)
}

// AddPending marks h as being written in this process. It returns false when
// h is already stored or already pending (the caller must not write it again).
// Among concurrent callers for the same unstored h exactly one gets true.
//
// h is claimed in the pending set first and the store is checked afterwards,
// so a concurrent StorePack (which writes Badger before it clears pending)
// can never let two callers both see "absent".
func (c *Cache) AddPending(ctx context.Context, h pack.BlobHandle) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c.mu.Lock()
	if _, ok := c.pending[h]; ok {
		c.mu.Unlock()
		return false, nil
	}
	c.pending[h] = struct{}{}
	c.mu.Unlock()

	stored, err := c.has(h)
	if err != nil || stored {
		c.ForgetPending(h)
		return false, err
	}
	return true, nil
}

// ForgetPending removes h from the pending set (its write failed).
func (c *Cache) ForgetPending(h pack.BlobHandle) {
	c.mu.Lock()
	delete(c.pending, h)
	c.mu.Unlock()
}

// PendingCount returns the size of the pending set (blobs in flight).
func (c *Cache) PendingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// writeEntries adds the blob records of entries in pack id to wb. Badger's
// WriteBatch commits by itself when a transaction grows too big
// (ErrTxnTooBig is handled inside WriteBatch.SetEntry), so batches of any
// size are fine. Keys and values live in one allocation per call, which the
// batch references until Flush.
func writeEntries(wb *badger.WriteBatch, id ID, entries []pack.Entry) error {
	buf := make([]byte, len(entries)*(blobKeySize+blobValSize))
	for i, e := range entries {
		kv := buf[i*(blobKeySize+blobValSize):][:blobKeySize+blobValSize]
		k := (*[blobKeySize]byte)(kv[:blobKeySize])
		blobKey(k, e.BlobHandle)
		v := kv[blobKeySize:]
		putLocation(v, Location{Pack: id, Compression: e.Compression, Offset: e.Offset, Length: e.Length, RawLength: e.RawLength})
		if err := wb.Set(k[:], v); err != nil {
			return err
		}
	}
	return nil
}

// StorePack records every entry of pack id (one write batch) and removes them
// from the pending set.
func (c *Cache) StorePack(ctx context.Context, id ID, entries []pack.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.beforeWrite(len(entries) * (blobKeySize + blobValSize))
	c.swap.RLock()
	defer c.swap.RUnlock()
	wb := c.db.NewWriteBatch()
	if err := writeEntries(wb, id, entries); err != nil {
		wb.Cancel()
		return fmt.Errorf("store pack %s: %w", id.Short(), err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("store pack %s: %w", id.Short(), err)
	}
	c.mu.Lock()
	for _, e := range entries {
		delete(c.pending, e.BlobHandle)
	}
	c.mu.Unlock()
	return nil
}

func fileKey(id ID) []byte {
	k := make([]byte, fileKeySize)
	k[0] = kindFile
	copy(k[1:], id[:])
	return k
}

// HasIndexFile reports whether index file id has been merged into the cache.
func (c *Cache) HasIndexFile(id ID) (bool, error) {
	c.swap.RLock()
	defer c.swap.RUnlock()
	found := false
	err := c.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(fileKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lookup index file %s: %w", id.Short(), err)
	}
	return found, nil
}

// MergeIndexFile stores all entries of f and records id as merged. The
// merged-file record is written last, in the same write batch: a crash
// leaves either everything or some entries without the record, and merging
// the file again fixes the latter.
func (c *Cache) MergeIndexFile(ctx context.Context, id ID, f *File) error {
	n := 0
	for _, p := range f.Packs {
		n += len(p.Entries)
	}
	c.beforeWrite(n * (blobKeySize + blobValSize))
	c.swap.RLock()
	defer c.swap.RUnlock()
	wb := c.db.NewWriteBatch()
	for _, p := range f.Packs {
		if err := ctx.Err(); err != nil {
			wb.Cancel()
			return err
		}
		if err := writeEntries(wb, p.Pack, p.Entries); err != nil {
			wb.Cancel()
			return fmt.Errorf("merge index file %s: %w", id.Short(), err)
		}
	}
	if err := wb.Set(fileKey(id), nil); err != nil {
		wb.Cancel()
		return fmt.Errorf("merge index file %s: %w", id.Short(), err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("merge index file %s: %w", id.Short(), err)
	}
	return nil
}

// IndexFiles returns the IDs of all merged index files, in ID order.
func (c *Cache) IndexFiles() ([]ID, error) {
	c.swap.RLock()
	defer c.swap.RUnlock()
	var ids []ID
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindFile}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != fileKeySize {
				return fmt.Errorf("index: cache key %x has bad length", k)
			}
			ids = append(ids, ID(k[1:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list index files: %w", err)
	}
	return ids, nil
}

// Reset deletes every entry (blobs, merged-file records, metadata). The
// pending set (blobs in flight in this process) is kept.
func (c *Cache) Reset() error {
	c.beforeWrite(0)
	c.swap.RLock()
	defer c.swap.RUnlock()
	if err := c.db.DropAll(); err != nil {
		return fmt.Errorf("reset cache: %w", err)
	}
	return c.writeSchema()
}

// ForEach calls fn for every stored blob in key order (type, then ID); fn's
// non-nil return stops it and is returned. fn runs on the caller's
// goroutine inside a read transaction: it sees a consistent snapshot, may
// call read methods, and should not run for long (the snapshot pins old
// data versions).
func (c *Cache) ForEach(ctx context.Context, fn func(h pack.BlobHandle, l Location) error) error {
	c.swap.RLock()
	defer c.swap.RUnlock()
	return c.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{kindBlob}
		opts.PrefetchSize = 64
		it := txn.NewIterator(opts)
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%ctxCheckStep == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			k := item.Key()
			if len(k) != blobKeySize {
				return fmt.Errorf("index: cache key %x has bad length", k)
			}
			h := pack.BlobHandle{Type: pack.BlobType(k[1]), ID: ID(k[2:])}
			var l Location
			if err := item.Value(func(v []byte) (err error) {
				l, err = getLocation(v)
				return err
			}); err != nil {
				return err
			}
			if err := fn(h, l); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

// Count returns the number of stored blob entries. It iterates keys only.
func (c *Cache) Count() (int64, error) {
	c.swap.RLock()
	defer c.swap.RUnlock()
	var n int64
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindBlob}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count blobs: %w", err)
	}
	return n, nil
}

func metaKey(k []byte) ([]byte, error) {
	if len(k) > maxMetaKey {
		return nil, fmt.Errorf("index: metadata key of %d bytes too long", len(k))
	}
	return append([]byte{kindMeta}, k...), nil
}

// GetMeta returns the value stored under the metadata key k (a separate key
// space from blobs), or ok=false. The returned slice is a copy.
func (c *Cache) GetMeta(k []byte) (v []byte, ok bool, err error) {
	c.swap.RLock()
	defer c.swap.RUnlock()
	key, err := metaKey(k)
	if err != nil {
		return nil, false, err
	}
	c.read()
	err = c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("get meta %q: %w", k, err)
	}
	return v, ok, nil
}

// PutMeta stores v under metadata key k. Badger keeps no reference to k or v.
func (c *Cache) PutMeta(k, v []byte) error {
	key, err := metaKey(k)
	if err != nil {
		return err
	}
	val := append([]byte(nil), v...)
	c.beforeWrite(len(key) + len(val))
	c.swap.RLock()
	defer c.swap.RUnlock()
	if err := c.db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		return fmt.Errorf("put meta %q: %w", k, err)
	}
	return nil
}

// HasMetaPrefix reports whether any metadata key starts with prefix.
func (c *Cache) HasMetaPrefix(prefix []byte) (bool, error) {
	c.swap.RLock()
	defer c.swap.RUnlock()
	p := append([]byte{kindMeta}, prefix...)
	found := false
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
		defer it.Close()
		it.Rewind()
		found = it.Valid()
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("scan meta prefix %q: %w", prefix, err)
	}
	return found, nil
}

// MetaWriter batches PutMeta calls into few Badger transactions. Safe for
// concurrent use. Values become visible to GetMeta once flushed (Flush, or
// as Badger commits full batches).
type MetaWriter struct {
	c  *Cache
	wb *badger.WriteBatch // replaced by degrade (under c.swap)
}

// NewMetaWriter starts a batch; call Flush (or Cancel) when done.
func (c *Cache) NewMetaWriter() *MetaWriter {
	c.swap.Lock()
	defer c.swap.Unlock()
	w := &MetaWriter{c: c, wb: c.db.NewWriteBatch()}
	c.writers[w] = struct{}{}
	return w
}

// Put queues v under metadata key k (both are copied).
func (w *MetaWriter) Put(k, v []byte) error {
	key, err := metaKey(k)
	if err != nil {
		return err
	}
	w.c.beforeWrite(len(key) + len(v))
	w.c.swap.RLock()
	defer w.c.swap.RUnlock()
	if err := w.wb.Set(key, append([]byte(nil), v...)); err != nil {
		return fmt.Errorf("put meta %q: %w", k, err)
	}
	return nil
}

// Flush commits everything queued.
func (w *MetaWriter) Flush() error {
	w.c.beforeWrite(0)
	w.c.swap.RLock()
	defer w.c.swap.RUnlock()
	if err := w.wb.Flush(); err != nil {
		return fmt.Errorf("flush meta: %w", err)
	}
	return nil
}

// Cancel drops what was not committed yet.
func (w *MetaWriter) Cancel() {
	w.c.swap.Lock()
	defer w.c.swap.Unlock()
	delete(w.c.writers, w)
	w.wb.Cancel()
}
