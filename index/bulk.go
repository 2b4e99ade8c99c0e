package index

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
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
const (
	bulkRecSize    = blobKeySize + blobValSize
	bulkPartitions = 2 * 256 // blob type (data, tree) × first ID byte
)

// BulkLoad replaces the content of an empty cache with the entries of
// every index file that next yields (next returns io.EOF when done). It is
// only valid on a cache holding no index file and no metadata; it returns
// ErrNotEmpty otherwise. tmpDir receives temporary partition files.
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

	// 2. Sort each partition and stream it, in key order: 'b' records
	// (type 1 then 2, by ID), then 'f' (index files), then 'v' (schema).
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
	buf := z.NewBuffer(4<<20, "immich-vault.bulk")
	defer buf.Release()
	emit := func(k, v []byte) {
		kvToBuffer(buf, k, v)
	}
	flushBuf := func() error {
		if buf.LenNoPadding() == 0 {
			return nil
		}
		if err := sw.Write(buf); err != nil {
			return fmt.Errorf("bulk load: %w", err)
		}
		buf.Reset()
		return nil
	}
	for i, f := range parts {
		if f == nil {
			continue
		}
		data, err := io.ReadAll(f)
		if err != nil {
			return 0, fmt.Errorf("bulk load: read partition %d: %w", i, err)
		}
		n := len(data) / bulkRecSize
		recs := make([][]byte, n)
		for j := range recs {
			recs[j] = data[j*bulkRecSize : (j+1)*bulkRecSize]
		}
		// Stable: of duplicate keys (a blob in several packs) the first
		// yielded is kept, as the incremental merge would keep the last —
		// either location is valid.
		slices.SortStableFunc(recs, func(a, b []byte) int { return bytes.Compare(a[:blobKeySize], b[:blobKeySize]) })
		var prev []byte
		for _, r := range recs {
			if prev != nil && bytes.Equal(prev, r[:blobKeySize]) {
				continue
			}
			prev = r[:blobKeySize]
			emit(r[:blobKeySize], r[blobKeySize:])
		}
		if err := flushBuf(); err != nil {
			return 0, err
		}
	}
	slices.SortFunc(fileIDs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	fileIDs = slices.CompactFunc(fileIDs, func(a, b ID) bool { return a == b })
	for _, id := range fileIDs {
		emit(fileKey(id), nil)
	}
	emit([]byte{kindVersion}, schemaVersion)
	if err := flushBuf(); err != nil {
		return 0, err
	}
	if err := sw.Flush(); err != nil {
		return 0, fmt.Errorf("bulk load: %w", err)
	}
	done = true
	return len(fileIDs), nil
}

// kvToBuffer appends one key/value record for the StreamWriter to buf.
func kvToBuffer(buf *z.Buffer, k, v []byte) {
	badger.KVToBuffer(&pb.KV{Key: k, Value: v, Version: 1}, buf)
}

// ErrNotEmpty is returned by BulkLoad on a cache that already holds data.
var ErrNotEmpty = errors.New("index: cache is not empty")
