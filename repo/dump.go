package repo

import (
	"context"
	"fmt"
	"io"

	"github.com/immich-vault/immich-vault/pack"
)

// DumpFile writes the content of file node n to w, holding a reader lock
// (docs/FORMAT.md §10.3) while it reads.
func (r *Repository) DumpFile(ctx context.Context, n *Node, w io.Writer) error {
	if n.Type != NodeFile {
		return fmt.Errorf("%s is not a regular file", n.FileName())
	}
	ctx, release, err := r.hold(ctx, lockRead, "dump")
	if err != nil {
		return err
	}
	defer release()
	var buf []byte
	for _, id := range n.Content {
		buf, err = r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, buf)
		if err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
