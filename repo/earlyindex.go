package repo

import (
	"context"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// earlyIndexFiles and earlyIndexBytes bound what Open fetches of the index
// files before it knows the key: the stored bytes of at most this many
// files, this many bytes in all (the rest load after, a window at a time).
const (
	earlyIndexFiles = 16
	earlyIndexBytes = 64 << 20
)

// startEarlyIndex lists the index files of be (in ID order, as
// listIndexFiles) and loads the first ones, in the background, while Open
// looks for the key (earlyFiles). The index sync of Open takes the listing,
// and its loads wait for these instead of sending the same requests;
// decodeIndexFile checks and authenticates the bytes.
func startEarlyIndex(ctx context.Context, be backend.Backend) *earlyFiles {
	return startEarly(ctx, be, earlyPlan{
		typ: backend.IndexFile,
		list: func(ctx context.Context, be backend.Backend) ([]ID, int64, error) {
			return (&Repository{be: be}).listIndexFiles(ctx, nil)
		},
		maxFiles: earlyIndexFiles,
		maxBytes: earlyIndexBytes,
		loads:    earlyIndexFiles,
	})
}
