package maintenance

import (
	"context"
	"errors"
	"fmt"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// ErrSplitToV1: copy of a split directory into a version 1 repository,
// which cannot hold one.
var ErrSplitToV1 = errors.New("the snapshot holds a split directory (format version 2), which a version 1 repository cannot hold")

// copyParts copies the parts of split directory t (copyTree of each) and
// points t at the copies; the index itself is stored by copyTree. The
// parts stay as the source split them (docs/FORMAT.md §9.3).
func (c *copier) copyParts(ctx context.Context, up *repo.Uploader, t *data.Tree) error {
	if len(t.Parts) == 0 {
		return nil
	}
	if c.dst.Config().Version < repo.FormatV2 {
		return fmt.Errorf("copy: %w: copy it into a repository created by this version's init (format 2)", ErrSplitToV1)
	}
	for i := range t.Parts {
		sub, err := c.copyTree(ctx, up, t.Parts[i].Subtree)
		if err != nil {
			return err
		}
		t.Parts[i].Subtree = sub
	}
	return nil
}
