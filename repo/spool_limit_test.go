package repo_test

import (
	"context"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/limit"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/backend/retry"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// --limit-upload wraps a local repository in limit.New (cmd's
// openBackend). Packs must still be spooled into temporary files beside the
// repository instead of being held in memory; the uploader used to find
// the Spooler only on the outermost backend, so any limit turned it off
// (and so would any other decorator, such as retry).
func TestSpoolingUnderUploadLimit(t *testing.T) {
	for name, wrap := range map[string]func(backend.Backend) backend.Backend{
		"limit":         func(b backend.Backend) backend.Backend { return limit.New(b, 1<<20, 0) }, // 1 GiB/s: no waiting
		"retry > limit": func(b backend.Backend) backend.Backend { return retry.New(limit.New(b, 1<<20, 0), retry.Options{}) },
	} {
		t.Run(name, func(t *testing.T) { testSpoolingThrough(t, wrap) })
	}
}

func testSpoolingThrough(t *testing.T, wrap func(backend.Backend) backend.Backend) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := repotest.InitIn(t, wrap(l), repotest.Options(t))
	var spooled []string
	err = r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		for i := range 3 {
			if _, _, err := up.SaveBlob(ctx, pack.DataBlob, randomBytes(uint64(i), 300<<10)); err != nil {
				return err
			}
		}
		spooled = tmpFiles(t, dir) // the open packs
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(spooled) == 0 {
		t.Fatal("no pack was spooled to a temporary file under an upload limit")
	}
	if left := tmpFiles(t, dir); len(left) > 0 {
		t.Fatalf("temporary files left after a successful session: %v", left)
	}
}
