package index

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

func randomFile(rng *rand.Rand, packs, perPack int) *File {
	f := &File{}
	for range packs {
		var pid ID
		for i := range pid {
			pid[i] = byte(rng.Uint32())
		}
		pb := PackBlobs{Pack: pid}
		for j := range perPack {
			var id ID
			for i := range id {
				id[i] = byte(rng.Uint32())
			}
			t := pack.DataBlob
			if j%5 == 0 {
				t = pack.TreeBlob
			}
			pb.Entries = append(pb.Entries, pack.Entry{BlobHandle: pack.BlobHandle{ID: id, Type: t},
				Offset: uint32(j * 100), Length: 60, RawLength: uint32(j)})
		}
		f.Packs = append(f.Packs, pb)
	}
	return f
}

// A bulk load must give exactly the cache an incremental merge gives.
func TestBulkLoadMatchesMerge(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 5))
	files := []*File{randomFile(rng, 30, 100), randomFile(rng, 20, 50), {}}
	// A blob listed twice (in two files): one location must win, either is valid.
	dup := files[1].Packs[0].Entries[0]
	files[0].Packs[0].Entries = append(files[0].Packs[0].Entries, dup)
	ids := []ID{{1}, {2}, {3}}

	merged, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	for i, f := range files {
		if err := merged.MergeIndexFile(ctx, ids[i], f); err != nil {
			t.Fatal(err)
		}
	}
	bulk, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bulk.Close()
	i := 0
	n, err := bulk.BulkLoad(ctx, t.TempDir(), func() (ID, *File, error) {
		if i == len(files) {
			return ID{}, nil, io.EOF
		}
		i++
		return ids[i-1], files[i-1], nil
	})
	if err != nil || n != 3 {
		t.Fatalf("BulkLoad: %d files, %v", n, err)
	}
	cm, _ := merged.Count()
	cb, _ := bulk.Count()
	if cm != cb || cb != 30*100+20*50 {
		t.Fatalf("counts: merged %d, bulk %d, want %d", cm, cb, 30*100+20*50)
	}
	err = merged.ForEach(ctx, func(h pack.BlobHandle, l Location) error {
		got, ok, err := bulk.Lookup(ctx, h)
		if err != nil || !ok {
			t.Fatalf("bulk cache lacks %v: %v", h, err)
		}
		if h == dup.BlobHandle {
			return nil
		}
		if got != l {
			t.Fatalf("%v: bulk %+v, merged %+v", h, got, l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := bulk.IndexFiles()
	if len(got) != 3 {
		t.Fatalf("index files after bulk load: %v", got)
	}
	// The cache stays writable and usable after a bulk load.
	if err := bulk.StorePack(ctx, ID{9}, []pack.Entry{{BlobHandle: pack.BlobHandle{ID: ID{7}, Type: pack.DataBlob}, Length: 50}}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := bulk.Has(ctx, pack.BlobHandle{ID: ID{7}, Type: pack.DataBlob}); !ok {
		t.Fatal("entry stored after bulk load not found")
	}
	// Not allowed on a non-empty cache.
	if _, err := merged.BulkLoad(ctx, t.TempDir(), func() (ID, *File, error) { return ID{}, nil, io.EOF }); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("BulkLoad on a non-empty cache: %v", err)
	}
}
