package archiver

import (
	"context"

	"github.com/immich-vault/immich-vault/repo"
)

// Backup's dry run (BackupOptions.DryRun, restic's backup --dry-run): the
// walk, the excludes, the change detection against the parent, reading and
// chunking are the backup's own; only the two ends differ. It holds a
// reader lock instead of a writer's (nothing is added, so prune need not
// wait for it; a repository where no lock can be stored is read without
// one, as every reader does), and its uploader (repo.WithDryRunUploader)
// deduplicates and counts blobs without storing them.

// holdForBackup takes the lock a backup with opts needs.
func holdForBackup(ctx context.Context, r *repo.Repository, opts *BackupOptions) (context.Context, func(), error) {
	if opts.DryRun {
		return r.HoldForRead(ctx, "backup --dry-run")
	}
	return r.HoldForWrite(ctx, "backup")
}

// withUploader returns how a backup with opts stores its blobs.
func withUploader(r *repo.Repository, opts *BackupOptions) func(context.Context, func(context.Context, *repo.Uploader) error) error {
	if opts.DryRun {
		return r.WithDryRunUploader
	}
	return r.WithUploader
}
