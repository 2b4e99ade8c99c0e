package maintenance_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// reshuffledSnapshot stores a second snapshot in r whose one directory
// names the first k data blobs of snapshot first in files of its own (so
// its tree differs, its data blobs do not).
func reshuffledSnapshot(t *testing.T, r *repo.Repository, first *repo.Snapshot, k int) *repo.Snapshot {
	t.Helper()
	ctx := context.Background()
	var ids []repo.ID
	_, top, err := loadTree(ctx, r, first.Tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range top.Nodes {
		_, sub, err := loadTree(ctx, r, *d.Subtree)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range sub.Nodes {
			ids = append(ids, f.Content...)
		}
		if len(ids) >= k {
			break
		}
	}
	ids = ids[:k]
	return saveTreeSnapshot(t, r, time.Unix(1.8e9, 0).UTC(), "/albums", func(context.Context, *repo.Uploader) (*data.Tree, error) {
		tr := &data.Tree{}
		for i := 0; i < len(ids); i += 3 {
			tr.Nodes = append(tr.Nodes, &data.Node{Name: fmt.Sprintf("copy_%06d.jpg", i), Type: data.NodeFile, Mode: 0o644,
				ModTime: time.Unix(1.8e9, 0).UTC(), Size: 3 << 20, Content: ids[i:min(i+3, len(ids))]})
		}
		return tr, nil
	})
}

func loadTree(ctx context.Context, r *repo.Repository, id repo.ID) ([]byte, *data.Tree, error) {
	raw, err := r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.TreeBlob}, nil)
	if err != nil {
		return nil, nil, err
	}
	tr, err := data.DecodeTree(raw)
	return raw, tr, err
}

// indexFileIDs lists r's index files.
func indexFileIDs(t *testing.T, be backend.Backend) map[repo.ID]bool {
	t.Helper()
	out := map[repo.ID]bool{}
	err := be.List(context.Background(), backend.IndexFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			out[id] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cacheMatchesIndex fails unless r's cache records exactly the index files
// of be and holds one entry per distinct blob they list.
func cacheMatchesIndex(t *testing.T, r *repo.Repository, be backend.Backend) {
	t.Helper()
	files := indexFileIDs(t, be)
	merged, err := r.Cache().IndexFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) != len(files) {
		t.Fatalf("the cache records %d index files, the repository has %d", len(merged), len(files))
	}
	for _, id := range merged {
		if !files[id] {
			t.Fatalf("the cache records index file %s, which the repository lacks", id.Short())
		}
	}
	tb, err := r.IndexTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	n, err := r.Cache().Count()
	if err != nil {
		t.Fatal(err)
	}
	if n != tb.NumBlobs() {
		t.Fatalf("the cache holds %d blob entries, the index files list %d distinct blobs", n, tb.NumBlobs())
	}
}

// TestCopyDefersDestinationCache: while copy runs, the destination's
// cache is not fed blob by blob (fed so, Badger's compactions rewrote each
// of 9 M entries many times: 20 GB written, 25× the CPU time of 1 M; issue
// 13); the blobs copied are recognised from this run's index files (a data
// blob of the second snapshot is not stored twice), and at the end the
// cache holds exactly what the index files list, metadata kept.
//
// On the code before the change the cache held every blob of the first
// snapshot when it was reported copied.
func TestCopyDefersDestinationCache(t *testing.T) {
	const n, shared = 30_000, 2_000
	ctx := context.Background()
	src := repotest.InitIn(t, mem.New(), repotest.Options(t))
	first := tinyBlobRepo(t, src, n)
	reshuffledSnapshot(t, src, first, shared)

	dstBe := mem.New()
	dstOpts := repotest.Options(t)
	dstOpts.ShareKeyWith = src
	dstOpts.ChunkerProfiles = src.Config().Chunker.Profiles
	dst := repotest.InitIn(t, dstBe, dstOpts)
	// Metadata the cache held before (the file cache of a backup, say)
	// must survive the merge.
	if err := dst.Cache().PutMeta([]byte("test-before-copy"), []byte("kept")); err != nil {
		t.Fatal(err)
	}

	snaps, err := src.Snapshots(ctx, nil)
	if err != nil || len(snaps) != 2 {
		t.Fatalf("source snapshots: %d, %v", len(snaps), err)
	}
	var during []int64
	st, err := maintenance.Copy(ctx, dst, src, snaps, maintenance.CopyOptions{
		Progress: func(s *repo.Snapshot, _ *maintenance.CopyStats) {
			c, err := dst.Cache().Count()
			if err != nil {
				t.Error(err)
			}
			during = append(during, c)
		},
	})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if len(during) != 2 || during[0] != 0 || during[1] != 0 {
		t.Fatalf("blob entries in the destination's cache after each snapshot: %v, want none until the copy ends", during)
	}
	trees := int64((n/5+499)/500 + 1 + 1) // leaf directories, the root, the second snapshot's tree
	if st.SnapshotsCopied != 2 || st.BlobsCopied != int64(n)+trees || st.BlobsPresent != shared {
		t.Fatalf("copy: %+v, want 2 snapshots, %d blobs sent and %d present (the second snapshot's data)", st, int64(n)+trees, shared)
	}
	cacheMatchesIndex(t, dst, dstBe)
	if v, ok, err := dst.Cache().GetMeta([]byte("test-before-copy")); err != nil || !ok || string(v) != "kept" {
		t.Fatalf("metadata after copy: %q %v %v", v, ok, err)
	}
	checkOK(t, dst)
	// A second run finds everything copied.
	st, err = maintenance.Copy(ctx, dst, src, snaps, maintenance.CopyOptions{})
	if err != nil || st.SnapshotsSkipped != 2 || st.BlobsCopied != 0 {
		t.Fatalf("second copy: %+v, %v", st, err)
	}
}

// TestCopyInterruptedAfterIndexFiles: a copy stopped after its first
// snapshot (index files and snapshot stored, the cache not told about
// them) leaves a destination that the next open brings up to date, that
// the next copy completes without storing a blob twice, and that check
// passes.
func TestCopyInterruptedAfterIndexFiles(t *testing.T) {
	const n = 20_000
	src := repotest.InitIn(t, mem.New(), repotest.Options(t))
	first := tinyBlobRepo(t, src, n)
	reshuffledSnapshot(t, src, first, 1_000)

	dstBe := mem.New()
	dstOpts := repotest.Options(t)
	dstOpts.ShareKeyWith = src
	dstOpts.ChunkerProfiles = src.Config().Chunker.Profiles
	dst := repotest.InitIn(t, dstBe, dstOpts)
	snaps, err := src.Snapshots(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = maintenance.Copy(ctx, dst, src, snaps, maintenance.CopyOptions{
		Progress: func(*repo.Snapshot, *maintenance.CopyStats) { cancel() },
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted copy: %v, want context.Canceled", err)
	}
	if files := indexFileIDs(t, dstBe); len(files) == 0 {
		t.Fatal("the interrupted copy wrote no index file")
	}
	if c, err := dst.Cache().Count(); err != nil || c != 0 {
		t.Fatalf("the cache holds %d entries (%v) after the interrupted copy, want none (its index files are merged by the next open)", c, err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	// The next process: same cache directory.
	dst2 := repotest.Reopen(t, dstBe, dstOpts)
	cacheMatchesIndex(t, dst2, dstBe)
	st, err := maintenance.Copy(context.Background(), dst2, src, snaps, maintenance.CopyOptions{})
	if err != nil {
		t.Fatalf("copy after the interruption: %v", err)
	}
	if st.SnapshotsSkipped != 1 || st.SnapshotsCopied != 1 || st.BlobsCopied != 1 {
		t.Fatalf("copy after the interruption: %+v, want 1 skipped, 1 copied, 1 blob sent (its tree; its data was copied before)", st)
	}
	cacheMatchesIndex(t, dst2, dstBe)
	checkOK(t, dst2)
}

// TestCopyFailedCommitsCopiedSnapshots: a copy that fails on a later
// snapshot (a data blob missing from the source) still merges the index
// files of the snapshots it copied into the cache before it returns.
func TestCopyFailedCommitsCopiedSnapshots(t *testing.T) {
	ctx := context.Background()
	src := repotest.InitIn(t, mem.New(), repotest.Options(t))
	tinyBlobRepo(t, src, 5_000)
	// A later snapshot naming a data blob the source lacks.
	var root repo.ID
	err := src.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		b, err := data.EncodeTree(&data.Tree{Nodes: []*data.Node{{Name: "gone.jpg", Type: data.NodeFile, Mode: 0o644,
			ModTime: time.Unix(1.8e9, 0).UTC(), Size: 1, Content: []repo.ID{{0xde, 0xad}}}}})
		if err != nil {
			return err
		}
		root, _, err = up.SaveBlob(ctx, pack.TreeBlob, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.SaveSnapshot(ctx, &repo.Snapshot{Time: time.Unix(1.8e9, 0).UTC(), Host: "nas", Paths: []string{"/x"}, Tree: root}); err != nil {
		t.Fatal(err)
	}
	dstBe := mem.New()
	dstOpts := repotest.Options(t)
	dstOpts.ShareKeyWith = src
	dstOpts.ChunkerProfiles = src.Config().Chunker.Profiles
	dst := repotest.InitIn(t, dstBe, dstOpts)
	snaps, err := src.Snapshots(ctx, nil)
	if err != nil || len(snaps) != 2 {
		t.Fatalf("source snapshots: %d, %v", len(snaps), err)
	}
	st, err := maintenance.Copy(ctx, dst, src, snaps, maintenance.CopyOptions{})
	if !errors.Is(err, repo.ErrBlobNotFound) || st.SnapshotsCopied != 1 {
		t.Fatalf("copy: %+v, %v; want the first snapshot copied and ErrBlobNotFound", st, err)
	}
	cacheMatchesIndex(t, dst, dstBe)
}
