// Package repo is the immich-vault repository: it opens and creates
// repositories (marker, keys, config), stores and loads blobs through packs
// and index files (Uploader, LoadBlob, FileReader), loads and stores
// snapshots and trees, owns the locks (docs/FORMAT.md §10), and implements
// the maintenance that shares the lock protocol and the index table with it:
// prune, check, repair. The operations above it live in archiver (backup),
// restorer (restore) and maintenance (forget, copy); the tree types in
// repo/data; the operating-system layer in fs.
//
// # Overview
//
// A repository is a set of files in a backend.Backend: a plaintext marker,
// key files (Argon2id-wrapped master key), and encrypted config, packs,
// index files and snapshots. Blobs are content-defined chunks of files (data
// blobs) or JSON directory listings (tree blobs), identified by keyed BLAKE3.
//
// # Format
//
// docs/FORMAT.md specifies every byte. Constants and documentation-only
// structs in this package mirror it; on-disk strings are frozen.
//
// # Concurrency
//
// A Repository is safe for concurrent use. An Uploader (see WithUploader)
// accepts blobs from many goroutines; packs are uploaded by
// backend.Properties().Connections workers, and index entries are written
// only after the packs they describe are durable. Snapshots are written last.
//
// # Caveats
//
// The local Badger cache (index.Cache) is a rebuildable copy of the index
// files; a second process using the same cache directory falls back to a
// temporary cache.
package repo
