package index

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

func tblRandID(r *rand.Rand) (id ID) {
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

// TestTableMatchesMaps builds a table from index files with packs listed
// twice (the first listing wins, every listing's file is recorded) and
// blobs held by several packs, and compares every question with maps built
// the way the maintenance commands used to build them. A tiny partition
// limit makes the sorter split partitions.
func TestTableMatchesMaps(t *testing.T) {
	old := sorterMaxPartition
	sorterMaxPartition = 4 << 10
	defer func() { sorterMaxPartition = old }()
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []ID
	files := map[ID]*File{}
	var shared []pack.BlobHandle
	var allPacks []PackBlobs
	for f := 0; f < 5; f++ {
		fl := &File{}
		for p := 0; p < 40; p++ {
			pb := PackBlobs{Pack: tblRandID(rng)}
			if len(allPacks) > 0 && p%7 == 0 {
				pb = allPacks[rng.IntN(len(allPacks))] // listed again (maybe with other entries)
				pb.Entries = pb.Entries[:len(pb.Entries)/2]
			} else {
				for e := 0; e < 30; e++ {
					h := pack.BlobHandle{ID: tblRandID(rng), Type: pack.BlobType(1 + rng.IntN(2))}
					if len(shared) > 0 && e%5 == 0 {
						h = shared[rng.IntN(len(shared))]
					}
					shared = append(shared, h)
					pb.Entries = append(pb.Entries, pack.Entry{BlobHandle: h, Offset: uint32(e * 100), Length: 100, RawLength: 60})
				}
				allPacks = append(allPacks, pb)
			}
			fl.Packs = append(fl.Packs, pb)
		}
		id := tblRandID(rng)
		ids = append(ids, id)
		files[id] = fl
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	// The reference: what loadRepoIndex built.
	packs := map[ID][]pack.Entry{}
	where := map[ID][]ID{}
	blobs := map[pack.BlobHandle][]ID{}
	for _, id := range ids {
		for _, p := range files[id].Packs {
			if w := where[p.Pack]; len(w) == 0 || w[len(w)-1] != id {
				where[p.Pack] = append(w, id) // a file listing a pack twice is named once
			}
			if _, ok := packs[p.Pack]; ok {
				continue
			}
			packs[p.Pack] = p.Entries
			for _, e := range p.Entries {
				blobs[e.BlobHandle] = append(blobs[e.BlobHandle], p.Pack)
			}
		}
	}
	i := 0
	tb, err := BuildTable(context.Background(), t.TempDir(), func() (ID, *File, error) {
		if i == len(ids) {
			return ID{}, nil, io.EOF
		}
		i++
		return ids[i-1], files[ids[i-1]], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if tb.NumPacks() != len(packs) {
		t.Fatalf("packs: %d, want %d", tb.NumPacks(), len(packs))
	}
	var prev ID
	err = tb.ForEachPack(func(p PackInfo) error {
		if p.Ord > 0 && string(prev[:]) >= string(p.ID[:]) {
			t.Fatalf("packs not in ID order")
		}
		prev = p.ID
		es, err := tb.PackEntries(p)
		if err != nil {
			return err
		}
		want := packs[p.ID]
		if len(es) != len(want) {
			t.Fatalf("pack %s: %d entries, want %d", p.ID.Short(), len(es), len(want))
		}
		for k := range es {
			if es[k] != want[k] {
				t.Fatalf("pack %s entry %d: %+v, want %+v", p.ID.Short(), k, es[k], want[k])
			}
		}
		fs, _ := tb.PackFiles(p)
		if len(fs) != len(where[p.ID]) {
			t.Fatalf("pack %s: files %v, want %v", p.ID.Short(), fs, where[p.ID])
		}
		q, ok, err := tb.FindPack(p.ID)
		if err != nil || !ok || q.Ord != p.Ord {
			t.Fatalf("FindPack(%s) = %v %v %v", p.ID.Short(), q.Ord, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tb.FindPack(tblRandID(rng)); ok {
		t.Fatal("FindPack found a pack that is not there")
	}
	n := 0
	var hs []pack.BlobHandle
	err = tb.ForEachBlob(func(h pack.BlobHandle, holders []Holder) error {
		n++
		hs = append(hs, h)
		if len(holders) != len(blobs[h]) {
			t.Fatalf("blob %v: %d holders, want %d", h, len(holders), len(blobs[h]))
		}
		l, err := tb.Lookup(h)
		if err != nil || len(l) != len(holders) {
			t.Fatalf("Lookup(%v): %d holders (%v), want %d", h, len(l), err, len(holders))
		}
		for _, x := range holders {
			p, _ := tb.Pack(x.Pack)
			found := false
			for _, e := range packs[p.ID] {
				if e == x.Entry {
					found = true
				}
			}
			if !found {
				t.Fatalf("blob %v: holder %s not in the pack's entries", h, p.ID.Short())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(blobs) {
		t.Fatalf("%d blobs, want %d", n, len(blobs))
	}
	if l, _ := tb.Lookup(pack.BlobHandle{ID: tblRandID(rng), Type: pack.DataBlob}); l != nil {
		t.Fatal("Lookup found a blob that is not there")
	}
	// A merge join over every other handle and some absent ones.
	set, err := NewHandleSet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	for k, h := range hs {
		if k%2 == 0 {
			set.Add(h)
			set.Add(h) // duplicates are dropped
		}
	}
	absent := pack.BlobHandle{ID: tblRandID(rng), Type: pack.DataBlob}
	set.Add(absent)
	if err := set.Freeze(nil); err != nil {
		t.Fatal(err)
	}
	if set.Len() != int64((len(hs)+1)/2+1) {
		t.Fatalf("set: %d handles, want %d", set.Len(), (len(hs)+1)/2+1)
	}
	cur := tb.BlobCursor()
	missing := 0
	err = set.ForEach(func(h pack.BlobHandle) error {
		l, err := cur.Seek(h)
		if len(l) == 0 {
			missing++
		} else if len(l) != len(blobs[h]) {
			t.Fatalf("Seek(%v): %d holders, want %d", h, len(l), len(blobs[h]))
		}
		return err
	})
	if err != nil || missing != 1 {
		t.Fatalf("merge join: %d missing (%v), want 1", missing, err)
	}
	if ok, _ := set.Has(absent); !ok {
		t.Fatal("Has(absent) = false")
	}
	if ok, _ := set.Has(hs[1]); ok {
		t.Fatal("Has of a handle not added = true")
	}
}

// TestTableUnionKeepsEveryListing: in union mode a pack's entries are
// those of all its listings, in file order.
func TestTableUnionKeepsEveryListing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := tblRandID(rng)
	mk := func(n int) []pack.Entry {
		var es []pack.Entry
		for i := 0; i < n; i++ {
			es = append(es, pack.Entry{BlobHandle: pack.BlobHandle{ID: tblRandID(rng), Type: pack.DataBlob}, Offset: uint32(i * 10), Length: 10, RawLength: 1})
		}
		return es
	}
	a, b := mk(3), mk(2)
	ids := []ID{{1}, {2}}
	files := []*File{{Packs: []PackBlobs{{Pack: p, Entries: a}}}, {Packs: []PackBlobs{{Pack: p, Entries: b}, {Pack: p, Entries: a[:1]}}}}
	i := 0
	tb, err := BuildTableUnion(context.Background(), t.TempDir(), func() (ID, *File, error) {
		if i == len(files) {
			return ID{}, nil, io.EOF
		}
		i++
		return ids[i-1], files[i-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	pi, ok, err := tb.FindPack(p)
	if err != nil || !ok {
		t.Fatalf("FindPack: %v %v", ok, err)
	}
	es, err := tb.PackEntries(pi)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]pack.Entry{}, a...), b...), a[0])
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d", len(es), len(want))
	}
	for k := range es {
		if es[k] != want[k] {
			t.Fatalf("entry %d: %+v, want %+v", k, es[k], want[k])
		}
	}
	if fs, _ := tb.PackFiles(pi); len(fs) != 2 {
		t.Fatalf("files %v, want 2", fs)
	}
}

// A listing that fails (a signal cancelling prune while it reads the index
// files) makes BuildTable return the error and remove its files; it used to
// panic closing a nil table (TestSignalCampaign, prune on SIGHUP).
func TestBuildTableFailureCleansUp(t *testing.T) {
	tmp := t.TempDir()
	boom := errors.New("listing failed")
	for _, union := range []bool{false, true} {
		build := BuildTable
		if union {
			build = BuildTableUnion
		}
		tbl, err := build(context.Background(), tmp, func() (ID, *File, error) { return ID{}, nil, boom })
		if !errors.Is(err, boom) || tbl != nil {
			t.Fatalf("union %v: BuildTable = %v, %v; want nil and the listing's error", union, tbl, err)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("union %v: files left in the temporary directory: %v", union, left)
		}
	}
}
