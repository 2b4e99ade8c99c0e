package index

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"

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
	rng := rand.New(rand.NewPCG(4, 5))
	files := []*File{randomFile(rng, 30, 100), randomFile(rng, 20, 50), {}}
	// A blob listed twice (in two files): one location must win, either is valid.
	dup := files[1].Packs[0].Entries[0]
	files[0].Packs[0].Entries = append(files[0].Packs[0].Entries, dup)
	checkBulkMatchesMerge(t, files, map[pack.BlobHandle]bool{dup.BlobHandle: true}, 30*100+20*50)
}

// The same with tiny streams (many tables) and tiny partitions, split
// recursively: by the next key byte, down to the last one for a blob
// listed more often than a partition holds.
func TestBulkLoadStreamsAndSplits(t *testing.T) {
	defer func(r int, p int64) { bulkStreamRecords, bulkMaxPartition = r, p }(bulkStreamRecords, bulkMaxPartition)
	bulkStreamRecords, bulkMaxPartition = 50, 4*int64(bulkRecSize)

	rng := rand.New(rand.NewPCG(6, 7))
	files := []*File{randomFile(rng, 30, 100), randomFile(rng, 20, 50), {}}
	// Blobs sharing their first ID bytes: splits several levels deep.
	pb := PackBlobs{Pack: ID{0xaa}}
	for i := range 40 {
		id := ID{7, 9, byte(i % 3), byte(i)}
		pb.Entries = append(pb.Entries, pack.Entry{BlobHandle: pack.BlobHandle{ID: id, Type: pack.DataBlob}, Offset: uint32(i), Length: 50})
	}
	files[2].Packs = []PackBlobs{pb}
	// One blob in six packs (more copies than a partition holds).
	dup := files[0].Packs[3].Entries[5]
	for i := range 5 {
		e := dup
		e.Offset += uint32(i + 1)
		files[i%2].Packs[10+i].Entries = append(files[i%2].Packs[10+i].Entries, e)
	}
	c := checkBulkMatchesMerge(t, files, map[pack.BlobHandle]bool{dup.BlobHandle: true}, 30*100+20*50+40)
	if n := len(c.db.Tables()); n < (30*100+20*50+40)/50 {
		t.Fatalf("%d tables, want one per %d records", n, bulkStreamRecords)
	}
}

// checkBulkMatchesMerge bulk-loads files into one cache and merges them
// into another, and compares the two (locations of the blobs in anyDup
// may differ); it returns the bulk-loaded cache.
func checkBulkMatchesMerge(t *testing.T, files []*File, anyDup map[pack.BlobHandle]bool, want int64) *Cache {
	t.Helper()
	ctx := context.Background()
	var ids []ID
	for i := range files {
		ids = append(ids, ID{byte(i + 1)})
	}
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
	dir := t.TempDir()
	bulk, err := OpenCache(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bulk.Close() })
	i := 0
	n, err := bulk.BulkLoad(ctx, t.TempDir(), func() (ID, *File, error) {
		if i == len(files) {
			return ID{}, nil, io.EOF
		}
		i++
		return ids[i-1], files[i-1], nil
	})
	if err != nil || n != len(files) {
		t.Fatalf("BulkLoad: %d files, %v", n, err)
	}
	// The directory stays locked through the reopenings.
	if c2, err := OpenCache(dir, nil); !errors.Is(err, ErrCacheLocked) {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("open during use after BulkLoad: %v, want ErrCacheLocked", err)
	}
	cm, _ := merged.Count()
	cb, _ := bulk.Count()
	if cm != cb || cb != want {
		t.Fatalf("counts: merged %d, bulk %d, want %d", cm, cb, want)
	}
	err = merged.ForEach(ctx, func(h pack.BlobHandle, l Location) error {
		got, ok, err := bulk.Lookup(ctx, h)
		if err != nil || !ok {
			t.Fatalf("bulk cache lacks %v: %v", h, err)
		}
		if anyDup[h] {
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
	if len(got) != len(files) {
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
	// And it survives reopening.
	if err := bulk.Close(); err != nil {
		t.Fatal(err)
	}
	if bulk, err = OpenCache(dir, nil); err != nil {
		t.Fatal(err)
	}
	if cb2, _ := bulk.Count(); cb2 != want+1 {
		t.Fatalf("count after reopening: %d, want %d", cb2, want+1)
	}
	return bulk
}

// The records handed to the StreamWriter are what badger.KVToBuffer writes.
func TestKVToBufferMatchesBadger(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 300)
	for _, tc := range []struct {
		stream uint32
		k, v   []byte
	}{
		{0, []byte("bkey"), []byte("value")},
		{0, []byte{kindVersion}, schemaVersion},
		{1, []byte("f-key"), nil},
		{127, long, long},
		{128, []byte("k"), []byte{0}},
		{1 << 31, long[:200], long[:45]},
	} {
		got := z.NewBuffer(1<<10, "test")
		want := z.NewBuffer(1<<10, "test")
		kvToBuffer(got, tc.stream, tc.k, tc.v)
		badger.KVToBuffer(&pb.KV{Key: tc.k, Value: tc.v, Version: 1, StreamId: tc.stream}, want)
		streamDoneToBuffer(got, tc.stream)
		badger.KVToBuffer(&pb.KV{StreamId: tc.stream, StreamDone: true}, want)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("stream %d, key %q: got %x, want %x", tc.stream, tc.k, got.Bytes(), want.Bytes())
		}
		got.Release()
		want.Release()
	}
}
