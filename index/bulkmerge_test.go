package index

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

// filesNext yields files under the IDs ids.
func filesNext(ids []ID, files []*File) func() (ID, *File, error) {
	i := 0
	return func() (ID, *File, error) {
		if i == len(files) {
			return ID{}, nil, io.EOF
		}
		i++
		return ids[i-1], files[i-1], nil
	}
}

// A bulk merge into a cache holding entries, index files and metadata
// (one value above Badger's value threshold, so in its value log) keeps
// all of them, adds the new files' entries and records, and leaves a cache
// that opens again as it is (its schema record written).
func TestBulkMergeKeepsContent(t *testing.T) {
	for _, tiny := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "tiny-streams"}[tiny], func(t *testing.T) {
			if tiny {
				defer func(r int) { bulkStreamRecords = r }(bulkStreamRecords)
				bulkStreamRecords = 50
			}
			ctx := context.Background()
			dir := t.TempDir()
			c, err := OpenCache(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(8, 9))
			old := []*File{randomFile(rng, 10, 40), randomFile(rng, 5, 30)}
			oldIDs := []ID{{1}, {2}}
			for i, f := range old {
				if err := c.MergeIndexFile(ctx, oldIDs[i], f); err != nil {
					t.Fatal(err)
				}
			}
			big := bytes.Repeat([]byte("x"), 5000)
			if err := c.PutMeta([]byte("small"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			if err := c.PutMeta([]byte("big"), big); err != nil {
				t.Fatal(err)
			}
			add := []*File{randomFile(rng, 20, 50), randomFile(rng, 3, 10)}
			addIDs := []ID{{0}, {3}} // before and after the old ones
			// A blob already in the cache, at another place.
			dup := old[0].Packs[2].Entries[7]
			moved := dup
			moved.Offset += 1000
			add[1].Packs[0].Entries = append(add[1].Packs[0].Entries, moved)

			n, err := c.BulkMerge(ctx, t.TempDir(), filesNext(addIDs, add))
			if err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Fatalf("BulkMerge merged %d files, want 2", n)
			}
			check := func(c *Cache) {
				t.Helper()
				ids, err := c.IndexFiles()
				if err != nil {
					t.Fatal(err)
				}
				want := []ID{{0}, {1}, {2}, {3}}
				if !slices.Equal(ids, want) {
					t.Fatalf("index files %v, want %v", ids, want)
				}
				total := 0
				for fi, f := range append(append([]*File{}, old...), add...) {
					for _, p := range f.Packs {
						for _, e := range p.Entries {
							total++
							l, ok, err := c.Lookup(ctx, e.BlobHandle)
							if err != nil || !ok {
								t.Fatalf("file %d: blob %v: %v %v", fi, e.BlobHandle, ok, err)
							}
							if e.BlobHandle == dup.BlobHandle {
								if l.Offset != moved.Offset {
									t.Fatalf("a blob in the cache and in a merged file: offset %d, want the merged file's %d", l.Offset, moved.Offset)
								}
								continue
							}
							if l.Pack != p.Pack || l.Offset != e.Offset || l.Length != e.Length || l.RawLength != e.RawLength {
								t.Fatalf("blob %v: %+v, want pack %s %+v", e.BlobHandle, l, p.Pack.Short(), e)
							}
						}
					}
				}
				if cnt, err := c.Count(); err != nil || cnt != int64(total-1) {
					t.Fatalf("count %d (%v), want %d", cnt, err, total-1)
				}
				for k, want := range map[string][]byte{"small": []byte("v"), "big": big} {
					v, ok, err := c.GetMeta([]byte(k))
					if err != nil || !ok || !bytes.Equal(v, want) {
						t.Fatalf("meta %q: %d bytes, %v, %v", k, len(v), ok, err)
					}
				}
			}
			check(c)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c, err = OpenCache(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			check(c)
		})
	}
}

// MergeIndexFiles merges a few files into a large cache one by one and
// many in bulk; both give every entry.
func TestMergeIndexFilesChoosesBulk(t *testing.T) {
	defer func(m int64) { bulkMergeMin = m }(bulkMergeMin)
	bulkMergeMin = 10
	ctx := context.Background()
	c, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(10, 11))
	base := randomFile(rng, 100, 100) // 10,000 entries
	if _, err := c.BulkLoad(ctx, t.TempDir(), filesNext([]ID{{1}}, []*File{base})); err != nil {
		t.Fatal(err)
	}
	tables := func() int { return len(c.db.Tables()) }
	before := tables()
	small := randomFile(rng, 1, 20)
	if err := c.MergeIndexFiles(ctx, t.TempDir(), 20, filesNext([]ID{{2}}, []*File{small})); err != nil {
		t.Fatal(err)
	}
	if tables() != before {
		// 20 entries stay in the memtable: no table rewritten.
		t.Fatalf("a merge of 20 entries into 10,000 changed the tables (%d → %d): it was a bulk merge", before, tables())
	}
	large := randomFile(rng, 50, 100)
	if err := c.MergeIndexFiles(ctx, t.TempDir(), 5000, filesNext([]ID{{3}}, []*File{large})); err != nil {
		t.Fatal(err)
	}
	c.entriesAt.Store(0) // count again
	if c.entries() < 15000 {
		t.Fatalf("after merging 5,000 entries into 10,000 the tables hold %d: not a bulk merge (which writes every entry into tables)", c.entries())
	}
	for _, f := range []*File{base, small, large} {
		for _, p := range f.Packs {
			for _, e := range p.Entries {
				if _, ok, err := c.Lookup(ctx, e.BlobHandle); err != nil || !ok {
					t.Fatalf("blob %v: %v %v", e.BlobHandle, ok, err)
				}
			}
		}
	}
	if ids, _ := c.IndexFiles(); len(ids) != 3 {
		t.Fatalf("index files %v", ids)
	}
}

// A RunSet answers exactly: every handle added, none other (its Bloom
// filters only skip runs).
func TestRunSet(t *testing.T) {
	for _, capacity := range []int64{0, 100, 50000} { // none, too small, enough
		t.Run(fmt.Sprint(capacity), func(t *testing.T) { testRunSet(t, capacity) })
	}
}

func testRunSet(t *testing.T, capacity int64) {
	s, err := NewRunSet(t.TempDir(), capacity)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(12, 13))
	var files []*File
	for i := range 12 {
		f := randomFile(rng, 10, 1+i*37)
		files = append(files, f)
		if err := s.AddFile(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddFile(&File{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		for _, p := range f.Packs {
			for _, e := range p.Entries {
				n++
				if ok, err := s.Has(e.BlobHandle); err != nil || !ok {
					t.Fatalf("added %v: Has %v %v", e.BlobHandle, ok, err)
				}
				other := e.BlobHandle
				other.Type = pack.DataBlob + pack.TreeBlob - other.Type
				if ok, err := s.Has(other); err != nil || ok {
					t.Fatalf("%v (the type not added): Has %v %v", other, ok, err)
				}
			}
		}
	}
	if s.Len() != int64(n) {
		t.Fatalf("Len %d, want %d", s.Len(), n)
	}
	maybe := 0
	for range 20000 {
		var id ID
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		if ok, err := s.Has(pack.BlobHandle{ID: id, Type: pack.DataBlob}); err != nil || ok {
			t.Fatalf("random handle: Has %v %v", ok, err)
		}
		var k [runSetKey]byte
		k[0] = byte(pack.DataBlob)
		copy(k[1:], id[:])
		h1, h2 := s.hash(k[:])
		if s.global != nil && s.globalBits(h1, h2, func(w int, bit uint64) bool { return s.global[w]&bit != 0 }) {
			maybe++
		}
	}
	// Sized for 50,000 handles and holding half as many: a few in a
	// thousand pass the global filter.
	if capacity == 50000 && maybe > 200 {
		t.Fatalf("%d of 20,000 absent handles pass the global filter", maybe)
	}
	t.Logf("capacity %d, %d handles: %d of 20,000 absent handles pass the global filter", capacity, n, maybe)
	// The first and last handles of a run, and ones just beside them.
	f := files[5]
	var hs []pack.BlobHandle
	for _, p := range f.Packs {
		for _, e := range p.Entries {
			hs = append(hs, e.BlobHandle)
		}
	}
	slices.SortFunc(hs, func(a, b pack.BlobHandle) int {
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	for _, h := range []pack.BlobHandle{hs[0], hs[len(hs)-1], hs[runSetBlock-1], hs[runSetBlock]} {
		if ok, err := s.Has(h); err != nil || !ok {
			t.Fatalf("edge %v: %v %v", h, ok, err)
		}
	}
}

// A bulk merge interrupted while it streams (the database emptied, part of
// the records written) leaves a cache that the next OpenCache wipes: it
// never claims an index file merged whose entries it lacks.
func TestBulkMergeInterrupted(t *testing.T) {
	defer func(h func(int), r int) { bulkPartitionHook, bulkStreamRecords = h, r }(bulkPartitionHook, bulkStreamRecords)
	bulkStreamRecords = 50 // tables are written as the stream goes
	dir := t.TempDir()
	c, err := OpenCache(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(14, 15))
	if err := c.MergeIndexFile(context.Background(), ID{1}, randomFile(rng, 20, 50)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	seen := 0
	bulkPartitionHook = func(int) {
		if seen++; seen == 100 {
			cancel()
		}
	}
	_, err = c.BulkMerge(ctx, t.TempDir(), filesNext([]ID{{2}}, []*File{randomFile(rng, 40, 50)}))
	if err == nil {
		t.Fatal("BulkMerge with its context cancelled half way returned nil")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = OpenCache(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids, err := c.IndexFiles()
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Count()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 0 || n != 0 {
		t.Fatalf("after an interrupted bulk merge the cache records index files %v and %d blobs, want an empty cache (rebuilt from the repository)", ids, n)
	}
}
