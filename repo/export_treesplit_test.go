package repo

import (
	"context"
	"testing"

	"github.com/immich-vault/immich-vault/repo/data"
)

// SetTreeSplitForTest makes writers split directories whose tree exceeds
// n bytes (docs/FORMAT.md §9.3) until the test ends.
func SetTreeSplitForTest(t testing.TB, n int) {
	old := treeSplitBytes
	treeSplitBytes = func() int { return n }
	t.Cleanup(func() { treeSplitBytes = old })
}

// LoadTreeBlobForTest loads a tree blob as stored (a split directory's
// index unassembled).
func (r *Repository) LoadTreeBlobForTest(ctx context.Context, id ID) (*data.Tree, error) {
	return r.loadTreeBlob(ctx, id)
}

// CheckPartForTest exposes data.CheckPart.
var CheckPartForTest = data.CheckPart
