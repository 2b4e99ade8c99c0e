package index

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// BulkMerge adds the entries of every index file that next yields (io.EOF
// when done) to the cache, which may hold entries, index files and
// metadata already, and records the files as merged. It costs a pass over
// the cache's content: the cache is dumped in key order into a file under
// tmpDir, and the dump and the new records (sorted as in BulkLoad) are
// streamed together into the emptied database, in key order, without
// memtables or compaction. Merging millions of new entries file by file
// (MergeIndexFile) goes through Badger's compactions instead, which
// rewrite each entry many times: copy of 9 M blobs wrote 20 GB that way
// (issue 13).
//
// Like BulkLoad it must not run concurrently with any other method of c.
// If it is interrupted after it started streaming, the cache is left
// without its schema record (written last) and the next OpenCache wipes
// it; the repository's index files are the truth, so the only loss is the
// metadata (e.g. the file cache), which is rebuilt as it is used.
func (c *Cache) BulkMerge(ctx context.Context, tmpDir string, next func() (ID, *File, error)) (files int, err error) {
	return c.bulkLoad(ctx, tmpDir, next, true)
}

// MergeIndexFiles adds the index files that next yields to the cache: with
// BulkMerge when they hold at least a bulkMergeShare of the entries the
// cache holds already (newEntries: their number), else one by one with
// MergeIndexFile, which costs less for a few files added to a large cache.
// An empty cache is bulk loaded.
func (c *Cache) MergeIndexFiles(ctx context.Context, tmpDir string, newEntries int64, next func() (ID, *File, error)) error {
	c.swap.RLock()
	have := c.entries()
	c.swap.RUnlock()
	if newEntries >= bulkMergeMin && uint64(newEntries)*bulkMergeShare >= have {
		_, err := c.BulkMerge(ctx, tmpDir, next)
		return err
	}
	for {
		id, f, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.MergeIndexFile(ctx, id, f); err != nil {
			return err
		}
	}
}

// A bulk merge rewrites the whole cache; merging file by file costs about
// a rewrite of each new entry per level it descends. New entries of at
// least 1/bulkMergeShare of the cache (and at least bulkMergeMin) are
// merged in bulk. Variables for tests.
var (
	bulkMergeShare uint64 = 4
	bulkMergeMin   int64  = 100_000
)

// bulkPartitionHook, if set, is called before each partition is streamed
// (tests: an interruption in the middle of a load).
var bulkPartitionHook func(partition int)

// dump writes every record of the cache but the schema version, in key
// order, into a file in dir and returns a reader positioned at its start.
// Records are uvarint key length ‖ uvarint value length ‖ key ‖ value.
func (c *Cache) dump(dir string) (*dumpReader, error) {
	f, err := os.Create(filepath.Join(dir, "old"))
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var hdr [2 * binary.MaxVarintLen64]byte
	err = c.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchSize = 64
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) == 1 && k[0] == kindVersion {
				continue
			}
			if err := item.Value(func(v []byte) error {
				n := binary.PutUvarint(hdr[:], uint64(len(k)))
				n += binary.PutUvarint(hdr[n:], uint64(len(v)))
				if _, err := w.Write(hdr[:n]); err != nil {
					return err
				}
				if _, err := w.Write(k); err != nil {
					return err
				}
				_, err := w.Write(v)
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dump cache: %w", err)
	}
	d := &dumpReader{f: f, r: bufio.NewReaderSize(f, 256<<10)}
	if err := d.advance(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// dumpReader reads a dump record by record: k and v are the current one
// (valid until advance), ok false at the end.
type dumpReader struct {
	f    *os.File
	r    *bufio.Reader
	k, v []byte
	ok   bool
}

func (d *dumpReader) advance() error {
	kl, err := binary.ReadUvarint(d.r)
	if errors.Is(err, io.EOF) {
		d.ok = false
		return nil
	}
	if err != nil {
		return fmt.Errorf("read cache dump: %w", err)
	}
	vl, err := binary.ReadUvarint(d.r)
	if err != nil {
		return fmt.Errorf("read cache dump: %w", err)
	}
	if kl > 1<<16 || vl > 1<<30 {
		return fmt.Errorf("read cache dump: record of %d+%d bytes", kl, vl)
	}
	d.k = growTo(d.k, int(kl))
	d.v = growTo(d.v, int(vl))
	if _, err := io.ReadFull(d.r, d.k); err != nil {
		return fmt.Errorf("read cache dump: %w", err)
	}
	if _, err := io.ReadFull(d.r, d.v); err != nil {
		return fmt.Errorf("read cache dump: %w", err)
	}
	d.ok = true
	return nil
}

func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func (d *dumpReader) close() {
	d.f.Close()
	os.Remove(d.f.Name())
}

// drainOld emits the former records whose keys are at most k (all of them
// if k is nil), dropping one equal to k: the new record replaces it.
func (s *bulkSorter) drainOld(k []byte) error {
	d := s.old
	if d == nil {
		return nil
	}
	for d.ok {
		c := -1
		if k != nil {
			c = bytes.Compare(d.k, k)
		}
		if c > 0 {
			return nil
		}
		if c < 0 {
			if err := s.emitNew(d.k, d.v); err != nil {
				return err
			}
		}
		if err := d.advance(); err != nil {
			return err
		}
	}
	return nil
}
