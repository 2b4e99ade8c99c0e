package archiver

import (
	"context"
	"os"
	"path/filepath"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// KeepsForTest lstats each of paths and tells, for each, whether a
// no-change re-scan would keep its parent node's content without reading
// it: walker reports the directory walker's batched decision
// (markUnchanged, one index read for all of paths), worker the file
// worker's per-file one (unchanged).
func KeepsForTest(ctx context.Context, r *repo.Repository, paths []string, parents []*data.Node) (walker, worker []bool, err error) {
	a := &archiver{r: r, opts: &BackupOptions{}, prog: &repo.Progress{}, noFileCache: true}
	batch := make([]walkEntry, len(paths))
	for i, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, nil, err
		}
		batch[i] = walkEntry{path: p, node: a.nodeFromInfo(filepath.Base(p), p, fi), parent: parents[i]}
	}
	a.markUnchanged(ctx, batch)
	for _, e := range batch {
		walker = append(walker, e.keep)
		_, ok := a.unchanged(ctx, e.node, e.parent)
		worker = append(worker, ok)
	}
	return walker, worker, nil
}
