package index

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

// TestTableLookupAcrossBlocks: Lookup reads one block of records and
// follows a blob's run of holders past the block's end; a run may start
// anywhere, also exactly at a block's first record. Blobs held by 1 to 5
// packs put run starts and ends at every position of the blocks.
func TestTableLookupAcrossBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	want := map[pack.BlobHandle]int{}
	f := &File{}
	var handles []pack.BlobHandle
	for range 3000 {
		h := pack.BlobHandle{ID: tblRandID(rng), Type: pack.DataBlob}
		handles = append(handles, h)
		want[h] = 1 + rng.IntN(5)
	}
	// Pack p holds every blob whose holder count exceeds p.
	for p := range 5 {
		pb := PackBlobs{Pack: tblRandID(rng)}
		for _, h := range handles {
			if want[h] > p {
				pb.Entries = append(pb.Entries, pack.Entry{BlobHandle: h, Offset: uint32(len(pb.Entries) * 10), Length: 10, RawLength: 5})
			}
		}
		f.Packs = append(f.Packs, pb)
	}
	done := false
	tb, err := BuildTable(context.Background(), t.TempDir(), func() (ID, *File, error) {
		if done {
			return ID{}, nil, io.EOF
		}
		done = true
		return tblRandID(rng), f, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if tb.NumBlobs() <= 4*tableBlock {
		t.Fatalf("only %d records: the test needs many blocks", tb.NumBlobs())
	}
	for _, h := range handles {
		l, err := tb.Lookup(h)
		if err != nil || len(l) != want[h] {
			t.Fatalf("Lookup(%v): %d holders (%v), want %d", h.ID.Short(), len(l), err, want[h])
		}
		for _, x := range l {
			if x.Entry.BlobHandle != h {
				t.Fatalf("Lookup(%v) returned a holder of %v", h.ID.Short(), x.Entry.ID.Short())
			}
		}
	}
	for range 1000 {
		if l, err := tb.Lookup(pack.BlobHandle{ID: tblRandID(rng), Type: pack.DataBlob}); l != nil || err != nil {
			t.Fatalf("Lookup of an absent blob: %v, %v", l, err)
		}
	}
}
