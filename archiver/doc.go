// Package archiver is the backup pipeline: it walks the source paths
// through the OS layer (fs), reuses unchanged files from the parent
// snapshot and the file cache, chunks and stores new content through a
// repo.Uploader, writes the trees (repo/data) bottom-up and saves the
// snapshot last. Backup takes the repository's shared writer lock itself
// (docs/FORMAT.md §10).
package archiver
