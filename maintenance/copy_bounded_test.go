package maintenance_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// tinyBlobRepo fills r with n data blobs of 8 bytes in files of 5 blobs,
// 500 files a directory (the shape of the bench's scale repositories,
// bench/cmd/bench/scale.go) and one snapshot of them.
func tinyBlobRepo(t *testing.T, r *repo.Repository, n int) *repo.Snapshot {
	t.Helper()
	return saveTreeSnapshot(t, r, time.Unix(1.7e9, 0).UTC(), "/photos", func(ctx context.Context, up *repo.Uploader) (*data.Tree, error) {
		var files []*data.Node
		var content []repo.ID
		var p [8]byte
		for i := range n {
			binary.LittleEndian.PutUint64(p[:], uint64(i))
			id, _, err := up.SaveBlob(ctx, pack.DataBlob, p[:])
			if err != nil {
				return nil, err
			}
			if content = append(content, id); len(content) == 5 || i == n-1 {
				files = append(files, &data.Node{Name: fmt.Sprintf("IMG_%08d.jpg", len(files)), Type: data.NodeFile,
					Mode: 0o644, ModTime: time.Unix(1.7e9, 0).UTC(), Size: uint64(len(content)) << 20, Content: content})
				content = nil
			}
		}
		top := &data.Tree{}
		for i := 0; i < len(files); i += 500 {
			b, err := data.EncodeTree(&data.Tree{Nodes: files[i:min(i+500, len(files))]})
			if err != nil {
				return nil, err
			}
			id, _, err := up.SaveBlob(ctx, pack.TreeBlob, b)
			if err != nil {
				return nil, err
			}
			top.Nodes = append(top.Nodes, &data.Node{Name: fmt.Sprintf("d%05d", i/500), Type: data.NodeDir, Mode: 0o755, ModTime: time.Unix(1.7e9, 0).UTC(), Subtree: &id})
		}
		return top, nil
	})
}

// saveTreeSnapshot saves the root tree that build returns (build stores
// its blobs and subtrees through up) and a snapshot of it taken at when,
// of path, on host "nas".
func saveTreeSnapshot(t *testing.T, r *repo.Repository, when time.Time, path string, build func(ctx context.Context, up *repo.Uploader) (*data.Tree, error)) *repo.Snapshot {
	t.Helper()
	ctx := context.Background()
	var root repo.ID
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		top, err := build(ctx, up)
		if err != nil {
			return err
		}
		b, err := data.EncodeTree(top)
		if err != nil {
			return err
		}
		root, _, err = up.SaveBlob(ctx, pack.TreeBlob, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sn := &repo.Snapshot{Time: when, Host: "nas", Paths: []string{path}, Tree: root}
	if _, err := r.SaveSnapshot(ctx, sn); err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestCopyStructuresBounded guards what kept copy's memory growing with
// the repository (issue 13), with checks that do not depend on the
// machine's speed or load:
//   - copy locates source blobs in a table of the source's index files,
//     not in the source's Badger cache, whose mapped tables made the
//     resident size grow with the index: the source is opened as the
//     command opens it (SnapshotsOnly, its cache not synced), and its
//     cache is still empty afterwards;
//   - the destination's packs hold at most 32,768 blobs (the uploader's
//     uploadPackEntries): every blob of a pack in flight costs about 150
//     bytes until its index file is written, and a pack of tiny blobs held
//     up to 364,722 of them, several packs at once.
//
// On the code before the fix both checks fail: the source's cache held
// every blob (its read lock synced it) and one pack held all 70,000 blobs.
func TestCopyStructuresBounded(t *testing.T) {
	const n = 70_000 // more than two full packs of tiny blobs
	be := mem.New()
	src := repotest.InitIn(t, be, repotest.Options(t))
	sn := tinyBlobRepo(t, src, n)

	srcOpts := repotest.Options(t) // a cache directory of its own
	srcOpts.SnapshotsOnly = true
	src2 := repotest.Reopen(t, be, srcOpts)
	dstOpts := repotest.Options(t)
	dstOpts.ShareKeyWith = src
	dstOpts.ChunkerProfiles = src.Config().Chunker.Profiles
	dst := repotest.InitIn(t, mem.New(), dstOpts)

	snaps, err := src2.Snapshots(context.Background(), nil)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("source snapshots: %d, %v", len(snaps), err)
	}
	st, err := maintenance.Copy(context.Background(), dst, src2, snaps, maintenance.CopyOptions{})
	if err != nil {
		t.Fatalf("Copy (source opened SnapshotsOnly, as the copy command opens it): %v", err)
	}
	trees := int64((n/5+499)/500 + 1) // leaf directories and the root
	if st.SnapshotsCopied != 1 || st.BlobsCopied != int64(n)+trees {
		t.Fatalf("copy: %+v, want 1 snapshot and %d blobs", st, int64(n)+trees)
	}
	if c, err := src2.Cache().Count(); err != nil || c != 0 {
		t.Fatalf("the source's cache holds %d blob entries after copy (%v): copy used it instead of the index table", c, err)
	}

	tb, err := dst.IndexTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	most := 0
	err = tb.ForEachPack(func(p index.PackInfo) error {
		most = max(most, p.Entries)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if most > 1<<15 {
		t.Fatalf("a destination pack holds %d blobs, want at most 32,768", most)
	}
	if tb.NumPacks() < n/(1<<15) {
		t.Fatalf("%d packs for %d blobs", tb.NumPacks(), n)
	}
	got, _ := dst.Snapshots(context.Background(), nil)
	if len(got) != 1 || got[0].Tree != sn.Tree {
		t.Fatalf("destination snapshots: %v", got)
	}
	checkOK(t, dst)
}
