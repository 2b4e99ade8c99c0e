package repo

import (
	"context"
	"io"

	"github.com/immich-vault/immich-vault/repo/data"
)

// DumpFile writes the content of file node n to w, holding a reader lock
// (docs/FORMAT.md §10.3) while it reads. It reads with a FileReader (merged
// range requests, read-ahead).
func (r *Repository) DumpFile(ctx context.Context, n *data.Node, w io.Writer) error {
	ctx, release, err := r.hold(ctx, lockRead, "dump")
	if err != nil {
		return err
	}
	defer release()
	fr, err := r.NewFileReader(ctx, n, FileReaderOptions{})
	if err != nil {
		return err
	}
	defer fr.Close()
	_, err = fr.WriteTo(w)
	return err
}
