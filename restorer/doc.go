// Package restorer writes a snapshot (or a subtree of it) to a directory:
// trees are prefetched, file content is read pack by pack in ranges and
// written through the OS layer's symlink-proof target (fs.TargetRoot), and
// metadata is applied last. Restore takes the repository's shared reader
// lock itself (docs/FORMAT.md §10.3).
package restorer
