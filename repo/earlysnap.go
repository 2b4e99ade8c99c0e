package repo

import (
	"context"
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// earlySnapshotFiles bounds the snapshot files Open fetches before it
// knows the key (a few hundred bytes each); earlySnapshotsFresh is how
// long after it was taken the listing may stand in for a new one (a
// server or daemon that lists hours after opening lists anew).
const (
	earlySnapshotFiles  = 64
	earlySnapshotsFresh = 30 * time.Second
)

// startEarlySnapshots lists the snapshots of be and loads the first ones,
// in the background, until ctx ends (earlyFiles): nearly every command
// lists the snapshots right after opening (latest, a parent, a policy),
// and on S3 the listing and the loads are two round trips one after the
// other that can run meanwhile (issue 14). LoadSnapshot checks the bytes
// against their name and authenticates them as if it had loaded them
// then. The listing is used once, by the first SnapshotIDs of the open,
// within earlySnapshotsFresh, and only while this Repository has neither
// saved nor removed a snapshot nor taken a lock (then it lists anew); a
// listing taken a moment earlier is what the same command saw before,
// when it listed right after opening, before taking its lock.
func startEarlySnapshots(ctx context.Context, be backend.Backend) *earlyFiles {
	return startEarly(ctx, be, earlyPlan{
		typ: backend.SnapshotFile,
		list: func(ctx context.Context, be backend.Backend) ([]ID, int64, error) {
			ids, err := listSnapshotIDs(ctx, be)
			return ids, 0, err
		},
		maxFiles: earlySnapshotFiles,
		loads:    32,
		fresh:    earlySnapshotsFresh,
	})
}

// listSnapshotIDs lists the IDs of the snapshot files in be, in the
// backend's order (names that are not IDs are skipped).
func listSnapshotIDs(ctx context.Context, be backend.Backend) ([]ID, error) {
	var ids []ID
	err := be.List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}
