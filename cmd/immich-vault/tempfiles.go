package main

import (
	"context"
	"os"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/local"
)

// Temporary files (".tmp-*") in a local repository are Saves and packs in
// progress. A process ended by a signal removes its own; one killed with
// SIGKILL (or by a power loss) leaves them behind: check reports them and
// prune removes them.
//
// The rule for removing one: its last modification is older than
// repo.LockStaleTimeout (30 min), and older than the creation of every live
// (non-stale) lock in the repository, minus tempFileClockSkew. A writer
// creates temporary files only while it holds its lock, so a file older than
// every live lock cannot belong to a running writer; the age alone also
// covers writers that hold no lock (init, key changes: seconds long).

// tempFileClockSkew allows for clocks of hosts sharing the repository (a
// lock's creation time comes from its host, a file's mtime from the file
// server).
const tempFileClockSkew = 5 * time.Minute

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
	locks, err := r.Locks(ctx)
	if err != nil {
		return rep, err
	}
	now := time.Now()
	cutoff := now.Add(-repo.LockStaleTimeout)
	host, _ := os.Hostname()
	for _, lk := range locks {
		if !lk.Stale(now, host) && lk.Created.Add(-tempFileClockSkew).Before(cutoff) {
			cutoff = lk.Created.Add(-tempFileClockSkew)
		}
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
