package repo_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// A session that fails after some of its packs were uploaded (but before
// any index file lists them) must not make a later session skip those
// blobs: otherwise that session's snapshot references blobs that no index
// file lists, and nobody else can restore it.
func TestFailedSessionDoesNotLeakUnindexedBlobs(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	opts := repotest.Options(t)
	opts.PackSize = 1 << 20
	r := repotest.InitIn(t, be, opts)

	rng := rand.New(rand.NewPCG(1, 2))
	blobs := make([][]byte, 6)
	for i := range blobs {
		blobs[i] = make([]byte, 700<<10) // incompressible: ~one pack each
		for j := range blobs[i] {
			blobs[i][j] = byte(rng.Uint32())
		}
	}
	boom := errors.New("session aborted")
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		for _, b := range blobs {
			if _, _, err := up.SaveBlob(ctx, pack.DataBlob, b); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("first session: got %v, want %v", err, boom)
	}

	// Second session in the same process and cache: every blob must be
	// stored again, because no index file lists the first session's packs.
	var added int
	err = r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		for _, b := range blobs {
			_, isNew, err := up.SaveBlob(ctx, pack.DataBlob, b)
			if err != nil {
				return err
			}
			if isNew {
				added++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if added != len(blobs) {
		t.Fatalf("second session stored %d of %d blobs; the rest were wrongly deduplicated against unindexed packs", added, len(blobs))
	}

	// A fresh cache (another host) must find every blob through the index files.
	opts2 := repotest.Options(t)
	r2 := repotest.Reopen(t, be, opts2)
	for i, b := range blobs {
		h := pack.BlobHandle{ID: r2.Key().BlobID(b), Type: pack.DataBlob}
		got, err := r2.LoadBlob(ctx, h, nil)
		if err != nil {
			t.Fatalf("blob %d not loadable from another cache: %v", i, err)
		}
		if string(got) != string(b) {
			t.Fatalf("blob %d: content differs", i)
		}
	}
	res, err := r2.Check(ctx, repo.CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("check: %+v", res)
	}
	if len(res.Unindexed) == 0 {
		t.Errorf("expected the aborted session's packs to show up as unindexed")
	}
}
