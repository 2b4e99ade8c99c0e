package archiver

import (
	"context"
	"io"

	"github.com/immich-vault/immich-vault/repo"
)

// ChunkStreamForTest stores rd as a file's content would be stored
// (chunkStream with the data profile, through the real blob workers and
// uploader) with size as the walk's size hint, and returns its chunks.
func ChunkStreamForTest(ctx context.Context, r *repo.Repository, rd io.Reader, size int64) ([]repo.ID, int64, error) {
	var (
		ids   []repo.ID
		total int64
	)
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		a := &archiver{r: r, up: up, prog: &repo.Progress{}, blobs: make(chan blobJob, 2)}
		done := make(chan struct{})
		go func() { a.blobWorker(ctx); close(done) }()
		var err error
		ids, total, err = a.chunkStream(ctx, rd, repo.ProfileData, "test", size)
		close(a.blobs)
		<-done
		return err
	})
	return ids, total, err
}
