package repo

import (
	"context"
	"fmt"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// SetWriteGate makes every write of a new pack, index or snapshot file
// through r call gate first, and fail with its error if it returns one;
// lock files are not gated. A nil gate removes it. It must be set before
// the writes it gates start (it is not synchronised with them).
//
// backup uses it to run its free-space preflight beside the backup instead
// of before it: the backup walks and reads while the preflight walks, and
// nothing reaches the repository until the preflight has passed, so a
// refusal still leaves the repository as it was (only the lock, removed
// on the way out). A no-change backup writes nothing but its snapshot, so
// both walks share the cold reads of the same directories.
func (r *Repository) SetWriteGate(gate func(ctx context.Context) error) { r.writeGate = gate }

// passWriteGate waits for the write gate (SetWriteGate) before a write of
// a file of type t.
func (r *Repository) passWriteGate(ctx context.Context, t backend.FileType) error {
	if r.writeGate == nil || t == backend.LockFile {
		return nil
	}
	if err := r.writeGate(ctx); err != nil {
		return fmt.Errorf("before writing a %v file: %w", t, err)
	}
	return nil
}
