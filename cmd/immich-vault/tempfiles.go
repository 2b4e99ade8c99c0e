package main

import (
	"context"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/local"
)

// Temporary files (".tmp-*") in a local repository are Saves and packs in
// progress. A process ended by a signal removes its own; one killed with
// SIGKILL (or by a power loss) leaves them behind: check reports them and
// prune removes them.
//
// The rule for removing one is the engine's (repo.TempFileCutoff): older
// than the lock timeout and than the start of every live lock session, all
// on the storage's clock.

// tempFilesReport summarises leftover temporary files (JSON in check and
// prune output).
type tempFilesReport struct {
	Count        int   `json:"count"`
	Bytes        int64 `json:"bytes"`
	Removed      int   `json:"removed,omitempty"`
	RemovedBytes int64 `json:"removed_bytes,omitempty"`
}

// localBackend returns the local backend under be's decorators, or nil.
func localBackend(be backend.Backend) *local.Local {
	for {
		switch b := be.(type) {
		case *local.Local:
			return b
		case interface{ Unwrap() backend.Backend }:
			be = b.Unwrap()
		default:
			return nil
		}
	}
}

// tempFiles lists the repository's temporary files; remove (prune, not a
// dry run) also removes the ones the rule above allows. A repository that
// is not local has none (its uploads are atomic).
func tempFiles(ctx context.Context, r *repo.Repository, remove bool) (*tempFilesReport, error) {
	l := localBackend(r.Backend())
	if l == nil {
		return nil, nil
	}
	files, err := l.TempFiles(ctx)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	rep := &tempFilesReport{Count: len(files)}
	for _, f := range files {
		rep.Bytes += f.Size
	}
	if !remove {
		return rep, nil
	}
	cutoff, err := r.TempFileCutoff(ctx)
	if err != nil {
		return rep, err
	}
	for _, f := range files {
		if !f.ModTime.Before(cutoff) {
			continue
		}
		if err := l.RemoveTempFile(f.Path); err != nil {
			return rep, err
		}
		rep.Removed++
		rep.RemovedBytes += f.Size
	}
	return rep, nil
}
