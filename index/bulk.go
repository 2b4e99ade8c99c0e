package index

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"

	"github.com/immich-vault/immich-vault/pack"
)

// A bulk load writes every record through Badger's StreamWriter in key
// order, which builds the LSM tables directly: no memtables, no
// compaction. That is what makes rebuilding the cache of a large repository
// (tens of millions of blobs) fast and keeps its memory flat. Key order
// needs a sort; records are first spread over partitions on disk by their
// leading key bytes (blob type, first ID byte), then each partition (a few
// MiB) is sorted in memory and streamed.
//
// Memory. The StreamWriter builds each table in memory before writing it:
// the builder allocates twice the table size up front (Go heap), and the
// table is handed to a goroutine that writes it while the next one is
// built (up to 16 at once). With Badger's defaults the StreamWriter's
// tables are 64 MiB (BaseTableSize × TableSizeMultiplier^(MaxLevels-2)),
// so two builders alone were 256 MiB of heap, above the process's soft
// memory limit: the GC ran without pause and the resident size reached
// 340 MiB at 10 M blobs. Now:
//   - the database is reopened for the load with tables of bulkTableSize
//     (about the size compaction gives the last level of such a cache),
//     and every bulkStreamRecords records go to a stream of their own, so
//     that each stream is one table and the tables being written can be
//     counted and bounded (bulkMaxWriting; see endStream);
//   - the StreamWriter gets batches of bulkBatchSize: it decodes each into
//     a few hundred bytes of heap per record and queues up to four;
//   - records are encoded without allocating, partitions are read into
//     one reused buffer, and a partition too large to sort in memory is
//     split first, so that none of this grows with the repository;
//   - the GC target is lowered for the load (bulkGCPercent) and the free
//     heap returned to the system before and after it;
//   - the tables' mapped pages are released once per table.
//
// At 10 M blobs that is a live heap of about 70 MiB and a peak resident
// size of about 125 MiB for the whole first backup, in a third of the
// time.
const (
	bulkRecSize    = blobKeySize + blobValSize
	bulkPartitions = 2 * 256 // blob type (data, tree) × first ID byte
	// bulkTableSize is the size of the tables the bulk load writes.
	bulkTableSize = 8 << 20
	// bulkMaxWriting is the most tables being written at once (see
	// endStream).
	bulkMaxWriting = 2
	// bulkWriteStall is how long the bulk load waits for a table to be
	// written before it stops waiting.
	bulkWriteStall = 30 * time.Second
	// bulkBatchSize is the size of the encoded batches handed to the
	// StreamWriter (about 5,600 records).
	bulkBatchSize = 512 << 10
)

// bulkStreamRecords is the number of records of one stream, and so of one
// table: about 6 MiB of table data, which fits in one table of
// bulkTableSize (its builder ends a table at 95 %). A variable for tests.
var bulkStreamRecords = 64 << 10

// bulkMaxPartition is the largest partition sorted in memory; a larger one
// (a repository of more than about 50 M blobs) is split by its next key
// byte first. A variable for tests.
var bulkMaxPartition int64 = 16 << 20

// bulkBadgerOptions are the options of the database while a bulk load
// writes it: those of badgerOptions with small tables. The StreamWriter
// writes at the last level, whose table size is BaseTableSize ×
// TableSizeMultiplier^(MaxLevels-2); a multiplier of 1 makes it
// bulkTableSize.
func bulkBadgerOptions(dir string, o *Options) badger.Options {
	bo := badgerOptions(dir, o).
		WithBaseTableSize(bulkTableSize).
		WithMemTableSize(1 << 20) // unused: no memtable writes
	bo.TableSizeMultiplier = 1
	return bo
}

// BulkLoad replaces the content of an empty cache with the entries of
// every index file that next yields (next returns io.EOF when done). It is
// only valid on a cache holding no index file and no metadata; it returns
// ErrNotEmpty otherwise. tmpDir receives temporary partition files.
//
// Unlike the other methods, BulkLoad must not run concurrently with any
// other method of c: an on-disk cache is closed and reopened (with options
// for the bulk load, then with its own again), keeping its directory lock.
func (c *Cache) BulkLoad(ctx context.Context, tmpDir string, next func() (ID, *File, error)) (files int, err error) {
	if ids, err := c.IndexFiles(); err != nil {
		return 0, err
	} else if len(ids) > 0 {
		return 0, ErrNotEmpty
	}
	if has, err := c.HasMetaPrefix(nil); err != nil {
		return 0, err
	} else if has {
		return 0, ErrNotEmpty
	}
	return c.bulkLoad(ctx, tmpDir, next, false)
}

// bulkLoad is BulkLoad; with keep, the cache's content is kept: it is
// dumped in key order first and merged with the new records as they are
// streamed (BulkMerge).
func (c *Cache) bulkLoad(ctx context.Context, tmpDir string, next func() (ID, *File, error), keep bool) (files int, err error) {
	defer lowerGCPercent()()
	dir, err := os.MkdirTemp(tmpDir, "bulk-")
	if err != nil {
		return 0, fmt.Errorf("bulk load: %w", err)
	}
	defer os.RemoveAll(dir)

	// 1. Partition.
	parts := make([]*os.File, bulkPartitions)
	ws := make([]*bufio.Writer, bulkPartitions)
	defer func() {
		for _, f := range parts {
			if f != nil {
				f.Close()
			}
		}
	}()
	var fileIDs []ID
	var rec [bulkRecSize]byte
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		id, f, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		fileIDs = append(fileIDs, id)
		for _, p := range f.Packs {
			for _, e := range p.Entries {
				if e.Type != pack.DataBlob && e.Type != pack.TreeBlob {
					return 0, fmt.Errorf("bulk load: entry of type %d: %w", e.Type, ErrCorrupt)
				}
				blobKey((*[blobKeySize]byte)(rec[:blobKeySize]), e.BlobHandle)
				putLocation(rec[blobKeySize:], Location{Pack: p.Pack, Compression: e.Compression, Offset: e.Offset, Length: e.Length, RawLength: e.RawLength})
				i := int(e.Type-pack.DataBlob)*256 + int(e.ID[0])
				if parts[i] == nil {
					if parts[i], err = os.Create(filepath.Join(dir, fmt.Sprintf("p%03d", i))); err != nil {
						return 0, fmt.Errorf("bulk load: %w", err)
					}
					ws[i] = bufio.NewWriterSize(parts[i], 16<<10)
				}
				if _, err := ws[i].Write(rec[:]); err != nil {
					return 0, fmt.Errorf("bulk load: %w", err)
				}
			}
		}
	}
	for i, w := range ws {
		if w != nil {
			if err := w.Flush(); err != nil {
				return 0, fmt.Errorf("bulk load: %w", err)
			}
			if _, err := parts[i].Seek(0, io.SeekStart); err != nil {
				return 0, fmt.Errorf("bulk load: %w", err)
			}
		}
	}
	ws = nil

	// 2. Sort each partition and stream it, in key order: 'b' records
	// (type 1 then 2, by ID), then 'f' (index files), then 'v' (schema).
	var old *dumpReader
	if keep {
		if old, err = c.dump(dir); err != nil {
			return 0, fmt.Errorf("bulk merge: %w", err)
		}
		defer old.close()
	}
	if c.dir != "" {
		if err := c.reopen(bulkBadgerOptions(c.dir, &c.opts)); err != nil {
			return 0, fmt.Errorf("bulk load: %w", err)
		}
		defer func() {
			if rerr := c.reopen(badgerOptions(c.dir, &c.opts)); rerr != nil && err == nil {
				files, err = 0, fmt.Errorf("bulk load: %w", rerr)
			}
		}()
	}
	sw := c.db.NewStreamWriter()
	if err := sw.Prepare(); err != nil {
		return 0, fmt.Errorf("bulk load: %w", err)
	}
	done := false
	defer func() {
		if !done {
			sw.Cancel()
		}
	}()
	s := &bulkSorter{ctx: ctx, dir: dir, trimDir: c.trimDir, db: c.db, sw: sw, buf: z.NewBuffer(bulkBatchSize+bulkBatchSize/4, "immich-vault.bulk"), old: old}
	s.tables0 = s.tables()
	defer s.buf.Release()
	for i, f := range parts {
		if f == nil {
			continue
		}
		if bulkPartitionHook != nil {
			bulkPartitionHook(i)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := s.sortFile(f, 3); err != nil {
			return 0, fmt.Errorf("bulk load: partition %d: %w", i, err)
		}
		f.Close()
		parts[i] = nil
		os.Remove(f.Name())
	}
	s.data, s.recs = nil, nil
	slices.SortFunc(fileIDs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	fileIDs = slices.CompactFunc(fileIDs, func(a, b ID) bool { return a == b })
	for _, id := range fileIDs {
		if err := s.emit(fileKey(id), nil); err != nil {
			return 0, err
		}
	}
	if err := s.emit([]byte{kindVersion}, schemaVersion); err != nil {
		return 0, err
	}
	if err := s.drainOld(nil); err != nil {
		return 0, err
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	if err := sw.Flush(); err != nil {
		return 0, fmt.Errorf("bulk load: %w", err)
	}
	done = true
	return len(fileIDs), nil
}

// bulkGCPercent is the GC target (GOGC) during a bulk load. Most of its
// live heap is pointer-free table builders, cheap to mark, and its garbage
// (decoded index files, the StreamWriter's per-record decoding) is
// produced at a high rate: the default target would let the heap grow to
// twice the live heap for little CPU saved.
var bulkGCPercent = 25

// lowerGCPercent lowers the GC target to bulkGCPercent (unless it is lower
// or off already) and returns what restores it. Both return the free heap
// to the operating system: before, what came before the load (e.g. the
// key derivation's 64 MiB) is not kept resident under it, and after, its
// heap is not kept under what comes next.
func lowerGCPercent() (restore func()) {
	prev := debug.SetGCPercent(bulkGCPercent)
	if prev >= 0 && prev < bulkGCPercent {
		debug.SetGCPercent(prev)
	}
	debug.FreeOSMemory()
	return func() {
		debug.SetGCPercent(prev)
		debug.FreeOSMemory()
	}
}

// reopen closes c's database and opens it again with bo. If that fails,
// c is left with an empty in-memory database (so that it can still be
// used and closed) and the error is returned.
func (c *Cache) reopen(bo badger.Options) error {
	cerr := c.db.Close()
	db, err := badger.Open(bo)
	if err != nil {
		c.db, _ = badger.Open(badgerOptions("", &Options{InMemory: true, Logf: c.opts.Logf}))
		return fmt.Errorf("reopen cache %s: %w", c.dir, err)
	}
	c.db = db
	if c.trimDir != "" {
		// Opening read every table's index through its mapping.
		trimMappings(c.trimDir)
	}
	if cerr != nil {
		return fmt.Errorf("close cache %s: %w", c.dir, cerr)
	}
	return nil
}

// bulkSorter sorts partition files and streams their records.
type bulkSorter struct {
	ctx     context.Context
	dir     string
	trimDir string // see Cache.trimDir
	db      *badger.DB
	sw      *badger.StreamWriter
	buf     *z.Buffer
	data    []byte    // the partition being sorted, reused
	recs    []bulkRef // its records, reused
	prev    [blobKeySize]byte
	n       int // partition files created by splits, for names

	stream   uint32 // the open stream
	inStream int    // records emitted to it
	tables0  int    // tables in the database when the load started

	old *dumpReader // BulkMerge: the cache's former content, or nil
}

// emit appends one record to the batch, handing the batch to the
// StreamWriter when it is full. In a BulkMerge the former records with
// keys up to k go first (bulkmerge.go); one with key k is replaced.
func (s *bulkSorter) emit(k, v []byte) error {
	if s.old != nil {
		if err := s.drainOld(k); err != nil {
			return err
		}
	}
	return s.emitNew(k, v)
}

func (s *bulkSorter) emitNew(k, v []byte) error {
	if s.inStream == bulkStreamRecords {
		if err := s.endStream(); err != nil {
			return err
		}
	}
	kvToBuffer(s.buf, s.stream, k, v)
	s.inStream++
	if s.buf.LenNoPadding() >= bulkBatchSize {
		return s.flush()
	}
	return nil
}

func (s *bulkSorter) flush() error {
	if s.buf.LenNoPadding() == 0 {
		return nil
	}
	if err := s.sw.Write(s.buf); err != nil {
		return fmt.Errorf("bulk load: %w", err)
	}
	s.buf.Reset()
	return nil
}

// endStream closes the open stream, which hands its table to a goroutine
// that writes it, and opens the next one. Each stream is one table (its
// records fit in one), so the tables being written are the streams closed
// minus the tables the database has: while more than bulkMaxWriting are,
// it waits. Without that the StreamWriter lets 16 tables be written at
// once, each holding its builder's memory, and a slow disk would let them
// pile up.
func (s *bulkSorter) endStream() error {
	streamDoneToBuffer(s.buf, s.stream)
	if err := s.flush(); err != nil {
		return err
	}
	s.stream++
	s.inStream = 0
	// A table that fails to be written never appears (the StreamWriter
	// reports it later): the wait ends when none has been added for a
	// long time.
	n, deadline := s.tables(), time.Now().Add(bulkWriteStall)
	for int(s.stream)-(n-s.tables0) > bulkMaxWriting && time.Now().Before(deadline) {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
		if m := s.tables(); m != n {
			n, deadline = m, time.Now().Add(bulkWriteStall)
		}
	}
	// The tables are written through memory mappings, faster than the
	// trim loop releases them: release them once per table.
	if s.trimDir != "" {
		trimMappings(s.trimDir)
	}
	return nil
}

// tables returns the number of tables in the database.
func (s *bulkSorter) tables() int {
	n := 0
	for _, l := range s.db.Levels() {
		n += l.NumTables
	}
	return n
}

// bulkRef is a record of the partition being sorted: key bytes 3 to 10
// (after kind, type and the first ID byte) as a number, and its offset.
type bulkRef struct {
	prefix uint64
	off    uint32
}

// sortFile sorts the records of f (all of which share their first
// keyByte bytes) and emits them; of records with equal keys, the first in
// f is kept. A file larger than bulkMaxPartition is split first.
func (s *bulkSorter) sortFile(f *os.File, keyByte int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size%int64(bulkRecSize) != 0 {
		return fmt.Errorf("partition file of %d bytes", size)
	}
	if size > bulkMaxPartition && keyByte < blobKeySize {
		return s.split(f, keyByte)
	}
	if int64(cap(s.data)) < size {
		s.data = make([]byte, size)
	}
	data := s.data[:size]
	if _, err := io.ReadFull(f, data); err != nil {
		return err
	}
	n := len(data) / bulkRecSize
	recs := s.recs[:0]
	for j := range n {
		off := j * bulkRecSize
		recs = append(recs, bulkRef{binary.BigEndian.Uint64(data[off+3:]), uint32(off)})
	}
	s.recs = recs
	// By key (the 8 bytes after the partition's common prefix first: most
	// comparisons end there), then by position: of duplicate keys (a blob
	// in several packs) the first yielded is kept, as the incremental
	// merge would keep the last — either location is valid.
	slices.SortFunc(recs, func(a, b bulkRef) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		if c := bytes.Compare(data[a.off:][:blobKeySize], data[b.off:][:blobKeySize]); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
	for j, ref := range recs {
		r := data[ref.off:][:bulkRecSize]
		if j > 0 && bytes.Equal(s.prev[:], r[:blobKeySize]) {
			continue
		}
		copy(s.prev[:], r[:blobKeySize])
		if err := s.emit(r[:blobKeySize], r[blobKeySize:]); err != nil {
			return err
		}
	}
	return nil
}

// split spreads the records of f over up to 256 files by their key byte
// keyByte (keeping their order) and sorts those in turn.
func (s *bulkSorter) split(f *os.File, keyByte int) error {
	var names [256]string
	defer func() {
		for _, name := range names {
			if name != "" {
				os.Remove(name)
			}
		}
	}()
	subs := make([]*os.File, 256)
	ws := make([]*bufio.Writer, 256)
	closeAll := func() error {
		var err error
		for b, sf := range subs {
			if sf == nil {
				continue
			}
			if werr := ws[b].Flush(); werr != nil && err == nil {
				err = werr
			}
			if cerr := sf.Close(); cerr != nil && err == nil {
				err = cerr
			}
			subs[b] = nil
		}
		return err
	}
	defer closeAll()
	r := bufio.NewReaderSize(f, 64<<10)
	var rec [bulkRecSize]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		b := rec[keyByte]
		if subs[b] == nil {
			s.n++
			names[b] = filepath.Join(s.dir, fmt.Sprintf("s%d", s.n))
			sf, err := os.Create(names[b])
			if err != nil {
				return err
			}
			subs[b], ws[b] = sf, bufio.NewWriterSize(sf, 4<<10)
		}
		if _, err := ws[b].Write(rec[:]); err != nil {
			return err
		}
	}
	if err := closeAll(); err != nil {
		return err
	}
	subs, ws = nil, nil
	for b, name := range names {
		if name == "" {
			continue
		}
		sf, err := os.Open(name)
		if err != nil {
			return err
		}
		err = s.sortFile(sf, keyByte+1)
		sf.Close()
		if err != nil {
			return err
		}
		os.Remove(name)
		names[b] = ""
	}
	return nil
}

// kvToBuffer appends one key/value record for the StreamWriter to buf: a
// pb.KV {Key: k, Value: v, Version: 1, StreamId: stream} in protobuf
// encoding, byte for byte what badger.KVToBuffer writes, without its
// allocations.
func kvToBuffer(buf *z.Buffer, stream uint32, k, v []byte) {
	n := 1 + uvarintLen(uint64(len(k))) + len(k) + 2
	if len(v) > 0 {
		n += 1 + uvarintLen(uint64(len(v))) + len(v)
	}
	if stream != 0 {
		n += 1 + uvarintLen(uint64(stream))
	}
	b := buf.SliceAllocate(n)[:0:n]
	b = append(b, 1<<3|2) // field 1 (key), bytes
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	if len(v) > 0 {
		b = append(b, 2<<3|2) // field 2 (value), bytes
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	b = append(b, 4<<3|0, 1) // field 4 (version), varint 1
	if stream != 0 {
		b = append(b, 10<<3|0) // field 10 (stream_id), varint
		b = binary.AppendUvarint(b, uint64(stream))
	}
	if len(b) != n {
		panic("index: kvToBuffer: size mismatch")
	}
}

// streamDoneToBuffer appends the record that closes a stream: a pb.KV
// {StreamId: stream, StreamDone: true}.
func streamDoneToBuffer(buf *z.Buffer, stream uint32) {
	n := 2
	if stream != 0 {
		n += 1 + uvarintLen(uint64(stream))
	}
	b := buf.SliceAllocate(n)[:0:n]
	if stream != 0 {
		b = append(b, 10<<3|0) // field 10 (stream_id), varint
		b = binary.AppendUvarint(b, uint64(stream))
	}
	b = append(b, 11<<3|0, 1) // field 11 (stream_done), true
	if len(b) != n {
		panic("index: streamDoneToBuffer: size mismatch")
	}
}

// ErrNotEmpty is returned by BulkLoad on a cache that already holds data.
var ErrNotEmpty = errors.New("index: cache is not empty")
