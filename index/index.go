// Package index maps blobs to their location in packs.
//
// Two things live here: the codec of the repository's index files (the
// authoritative record, encrypted and stored by package repo), and Cache, a
// Badger database under the user's cache directory holding the merged index
// of all index files plus small key/value metadata (e.g. the backup file
// cache). The cache can be deleted at any time; it is rebuilt from the
// repository. Memory use does not grow with the number of blobs.
package index

import (
	"context"
	"errors"

	"github.com/immich-vault/immich-vault/pack"
)

// ID is a blob, pack or index-file identifier.
type ID = pack.ID

// Location is where a blob is stored.
type Location struct {
	Pack        ID
	Compression pack.Compression
	Offset      uint32
	Length      uint32
	RawLength   uint32
}

// Entry returns the pack.Entry for handle h at this location.
func (l Location) Entry(h pack.BlobHandle) pack.Entry { panic("TODO") }

// PackBlobs lists the blobs of one pack.
type PackBlobs struct {
	Pack    ID
	Entries []pack.Entry
}

// File is the decoded plaintext of one repository index file.
type File struct {
	// Supersedes names index files whose content this file includes; once
	// this file is stored they may be deleted (used by prune / repair).
	Supersedes []ID
	Packs      []PackBlobs
}

// ErrCorrupt marks a malformed index file (errors are *pack.FormatError).
var ErrCorrupt = pack.ErrCorrupt

// ErrNotFound is returned by lookups of unknown blobs where a bool is not used.
var ErrNotFound = errors.New("index: not found")

// EncodeFile returns the plaintext encoding of f (the repository seals it).
func EncodeFile(f *File) []byte { panic("TODO") }

// DecodeFile parses the plaintext of an index file. Never panics; errors are *pack.FormatError.
func DecodeFile(b []byte) (*File, error) { panic("TODO") }

// Options tune the Badger cache.
type Options struct {
	// MemTableSize etc. are chosen for bounded memory; zero values mean defaults.
	InMemory bool // for tests
}

// Cache is the Badger-backed merged index and metadata store. Safe for
// concurrent use.
type Cache struct{}

// OpenCache opens (creating if needed) the cache in dir. A cache with another
// schema version is wiped and recreated.
func OpenCache(dir string, opts *Options) (*Cache, error) { panic("TODO") }

// Close flushes and closes the database.
func (c *Cache) Close() error { panic("TODO") }

// Lookup returns where h is stored (committed entries only, not pending ones).
func (c *Cache) Lookup(ctx context.Context, h pack.BlobHandle) (Location, bool, error) {
	panic("TODO")
}

// Has reports whether h is stored or pending.
func (c *Cache) Has(ctx context.Context, h pack.BlobHandle) (bool, error) { panic("TODO") }

// AddPending marks h as being written in this process. It returns false when
// h is already stored or already pending (the caller must not write it again).
func (c *Cache) AddPending(ctx context.Context, h pack.BlobHandle) (bool, error) { panic("TODO") }

// ForgetPending removes h from the pending set (its write failed).
func (c *Cache) ForgetPending(h pack.BlobHandle) { panic("TODO") }

// StorePack records every entry of pack id (one write batch) and removes them
// from the pending set.
func (c *Cache) StorePack(ctx context.Context, id ID, entries []pack.Entry) error { panic("TODO") }

// HasIndexFile reports whether index file id has been merged into the cache.
func (c *Cache) HasIndexFile(id ID) (bool, error) { panic("TODO") }

// MergeIndexFile stores all entries of f and records id as merged (atomically
// enough that a crash leaves either both or a state that re-merging fixes).
func (c *Cache) MergeIndexFile(ctx context.Context, id ID, f *File) error { panic("TODO") }

// IndexFiles returns the IDs of all merged index files.
func (c *Cache) IndexFiles() ([]ID, error) { panic("TODO") }

// Reset deletes every entry (blobs, merged-file records, metadata).
func (c *Cache) Reset() error { panic("TODO") }

// ForEach calls fn for every stored blob in key order; fn's return stops it.
func (c *Cache) ForEach(ctx context.Context, fn func(h pack.BlobHandle, l Location) error) error {
	panic("TODO")
}

// Count returns the number of stored blob entries.
func (c *Cache) Count() (int64, error) { panic("TODO") }

// GetMeta returns the value stored under the metadata key k (a separate key
// space from blobs), or ok=false. The returned slice is a copy.
func (c *Cache) GetMeta(k []byte) (v []byte, ok bool, err error) { panic("TODO") }

// PutMeta stores v under metadata key k.
func (c *Cache) PutMeta(k, v []byte) error { panic("TODO") }
