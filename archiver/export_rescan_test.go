package archiver

import (
	"context"
	"os"
	"path/filepath"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// KeepsForTest lstats p and tells whether a backup with parent as p's
// node in the parent snapshot would keep that node's content without
// reading p (unchanged, the file workers' decision).
func KeepsForTest(ctx context.Context, r *repo.Repository, p string, parent *data.Node) (bool, error) {
	a := &archiver{r: r, opts: &BackupOptions{}, prog: &repo.Progress{}, noFileCache: true}
	fi, err := os.Lstat(p)
	if err != nil {
		return false, err
	}
	_, ok := a.unchanged(ctx, a.nodeFromInfo(filepath.Base(p), p, fi), parent)
	return ok, nil
}
