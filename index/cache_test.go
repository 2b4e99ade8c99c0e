package index

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/immich-vault/immich-vault/pack"
)

func openMem(t testing.TB) *Cache {
	t.Helper()
	c, err := OpenCache("", &Options{InMemory: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openDir(t testing.TB, dir string) *Cache {
	t.Helper()
	c, err := OpenCache(dir, &Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func lookup(t testing.TB, c *Cache, h pack.BlobHandle) (Location, bool) {
	t.Helper()
	l, ok, err := c.Lookup(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	return l, ok
}

func TestCacheStoreLookup(t *testing.T) {
	ctx := context.Background()
	c := openMem(t)
	r := mrand.New(mrand.NewPCG(1, 2))
	packID := randID(r)
	es := makeEntries(r, 100)
	if err := c.StorePack(ctx, packID, es); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		l, ok := lookup(t, c, e.BlobHandle)
		if !ok {
			t.Fatalf("%v not found", e.BlobHandle)
		}
		if l.Pack != packID || l.Entry(e.BlobHandle) != e {
			t.Fatalf("%v: got %+v, want %+v in %v", e.BlobHandle, l, e, packID)
		}
		if ok, err := c.Has(ctx, e.BlobHandle); err != nil || !ok {
			t.Fatalf("Has = %v, %v", ok, err)
		}
		// Same ID, other type: a different blob.
		other := e.BlobHandle
		other.Type = 3 - other.Type
		if _, ok := lookup(t, c, other); ok {
			t.Fatalf("%v found under the wrong type", other)
		}
	}
	if _, ok := lookup(t, c, pack.BlobHandle{ID: randID(r), Type: pack.DataBlob}); ok {
		t.Fatal("unknown blob found")
	}
	if n, err := c.Count(); err != nil || n != 100 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	// Re-storing in another pack moves the blob.
	p2 := randID(r)
	if err := c.StorePack(ctx, p2, es[:1]); err != nil {
		t.Fatal(err)
	}
	if l, _ := lookup(t, c, es[0].BlobHandle); l.Pack != p2 {
		t.Fatalf("pack = %v, want %v", l.Pack, p2)
	}
	if n, _ := c.Count(); n != 100 {
		t.Fatalf("Count after restore = %d", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := c.Lookup(cctx, es[0].BlobHandle); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup with canceled ctx: %v", err)
	}
}

func TestCachePending(t *testing.T) {
	ctx := context.Background()
	c := openMem(t)
	r := mrand.New(mrand.NewPCG(3, 4))
	es := makeEntries(r, 3)
	h := es[0].BlobHandle
	if ok, _ := c.AddPending(ctx, h); !ok {
		t.Fatal("first AddPending = false")
	}
	if ok, _ := c.AddPending(ctx, h); ok {
		t.Fatal("second AddPending = true")
	}
	if ok, _ := c.Has(ctx, h); !ok {
		t.Fatal("pending blob: Has = false")
	}
	if _, ok := lookup(t, c, h); ok {
		t.Fatal("pending blob visible to Lookup")
	}
	c.ForgetPending(h)
	if ok, _ := c.Has(ctx, h); ok {
		t.Fatal("forgotten blob: Has = true")
	}
	if ok, _ := c.AddPending(ctx, h); !ok {
		t.Fatal("AddPending after ForgetPending = false")
	}
	if err := c.StorePack(ctx, randID(r), es); err != nil {
		t.Fatal(err)
	}
	if n := c.PendingCount(); n != 0 {
		t.Fatalf("PendingCount after StorePack = %d", n)
	}
	for _, e := range es {
		if ok, _ := c.AddPending(ctx, e.BlobHandle); ok {
			t.Fatalf("AddPending of stored %v = true", e.BlobHandle)
		}
	}
	if n := c.PendingCount(); n != 0 {
		t.Fatalf("PendingCount = %d, AddPending of stored blobs left entries", n)
	}
}

func TestCachePendingConcurrent(t *testing.T) {
	ctx := context.Background()
	c := openMem(t)
	r := mrand.New(mrand.NewPCG(5, 6))
	es := makeEntries(r, 50)
	var wins [50]atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, e := range es {
				ok, err := c.AddPending(ctx, e.BlobHandle)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					wins[i].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for i := range wins {
		if n := wins[i].Load(); n != 1 {
			t.Fatalf("blob %d: %d winners, want 1", i, n)
		}
	}

	// Racing StorePack against AddPending: a blob that a writer claimed
	// and stored is never claimed again.
	es2 := makeEntries(r, 200)
	var wins2 atomic.Int32
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, e := range es2 {
				ok, err := c.AddPending(ctx, e.BlobHandle)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					wins2.Add(1)
					if err := c.StorePack(ctx, ID{1}, []pack.Entry{e}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := wins2.Load(); n != int32(len(es2)) {
		t.Fatalf("%d blobs claimed, want %d", n, len(es2))
	}
}

func TestCacheMergeIndexFile(t *testing.T) {
	ctx := context.Background()
	c := openMem(t)
	f := makeFile(7, 2, 4, 25)
	id1, id2 := ID{1}, ID{2}
	if ok, err := c.HasIndexFile(id1); err != nil || ok {
		t.Fatalf("HasIndexFile before merge = %v, %v", ok, err)
	}
	if err := c.MergeIndexFile(ctx, id1, f); err != nil {
		t.Fatal(err)
	}
	if err := c.MergeIndexFile(ctx, id2, &File{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []ID{id1, id2} {
		if ok, err := c.HasIndexFile(id); err != nil || !ok {
			t.Fatalf("HasIndexFile(%v) = %v, %v", id, ok, err)
		}
	}
	ids, err := c.IndexFiles()
	if err != nil || !slices.Equal(ids, []ID{id1, id2}) {
		t.Fatalf("IndexFiles = %v, %v", ids, err)
	}
	for _, p := range f.Packs {
		for _, e := range p.Entries {
			l, ok := lookup(t, c, e.BlobHandle)
			if !ok || l.Pack != p.Pack || l.Entry(e.BlobHandle) != e {
				t.Fatalf("%v: %+v, %v", e.BlobHandle, l, ok)
			}
		}
	}
	// ForEach visits every blob once, in key order, and stops on error.
	var seen []pack.BlobHandle
	err = c.ForEach(ctx, func(h pack.BlobHandle, l Location) error {
		if want, _ := lookup(t, c, h); want != l {
			t.Fatalf("ForEach %v: %+v, Lookup %+v", h, l, want)
		}
		seen = append(seen, h)
		return nil
	})
	if err != nil || len(seen) != 100 {
		t.Fatalf("ForEach saw %d blobs, err %v", len(seen), err)
	}
	if !slices.IsSortedFunc(seen, func(a, b pack.BlobHandle) int {
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		return slices.Compare(a.ID[:], b.ID[:])
	}) {
		t.Fatal("ForEach not in key order")
	}
	stop := errors.New("stop")
	n := 0
	if err := c.ForEach(ctx, func(pack.BlobHandle, Location) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("ForEach stop: err %v after %d calls", err, n)
	}
	if n, _ := c.Count(); n != 100 {
		t.Fatalf("Count = %d (index-file and meta keys must not count)", n)
	}
}

func TestCacheMeta(t *testing.T) {
	c := openMem(t)
	if _, ok, err := c.GetMeta([]byte("k")); err != nil || ok {
		t.Fatalf("GetMeta missing = %v, %v", ok, err)
	}
	v := []byte("value")
	if err := c.PutMeta([]byte("k"), v); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X' // the cache must not keep a reference
	got, ok, err := c.GetMeta([]byte("k"))
	if err != nil || !ok || string(got) != "value" {
		t.Fatalf("GetMeta = %q, %v, %v", got, ok, err)
	}
	got[0] = 'Y'
	if again, _, _ := c.GetMeta([]byte("k")); string(again) != "value" {
		t.Fatalf("GetMeta returned an alias: %q", again)
	}
	// A metadata key that looks like a blob key does not become a blob.
	if err := c.PutMeta(append([]byte{'b', 1}, make([]byte, 32)...), make([]byte, 45)); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Count(); n != 0 {
		t.Fatalf("Count = %d, meta leaked into blob key space", n)
	}
	if err := c.PutMeta(make([]byte, 70000), nil); err == nil {
		t.Fatal("oversized meta key accepted")
	}
}

func TestCacheReset(t *testing.T) {
	ctx := context.Background()
	c := openMem(t)
	f := makeFile(8, 0, 1, 10)
	if err := c.MergeIndexFile(ctx, ID{9}, f); err != nil {
		t.Fatal(err)
	}
	if err := c.PutMeta([]byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Count(); n != 0 {
		t.Fatalf("Count after Reset = %d", n)
	}
	if ids, _ := c.IndexFiles(); len(ids) != 0 {
		t.Fatalf("IndexFiles after Reset = %v", ids)
	}
	if _, ok, _ := c.GetMeta([]byte("a")); ok {
		t.Fatal("meta survived Reset")
	}
	// Still usable.
	if err := c.StorePack(ctx, ID{1}, f.Packs[0].Entries); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Count(); n != 10 {
		t.Fatalf("Count = %d", n)
	}
}

func TestCachePersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := openDir(t, dir)
	f := makeFile(10, 1, 2, 20)
	if err := c.MergeIndexFile(ctx, ID{5}, f); err != nil {
		t.Fatal(err)
	}
	if err := c.PutMeta([]byte("m"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openDir(t, dir)
	defer c.Close()
	if n, _ := c.Count(); n != 40 {
		t.Fatalf("Count after reopen = %d", n)
	}
	if ok, _ := c.HasIndexFile(ID{5}); !ok {
		t.Fatal("merged index file lost")
	}
	if v, ok, _ := c.GetMeta([]byte("m")); !ok || string(v) != "v" {
		t.Fatal("meta lost")
	}
	e := f.Packs[1].Entries[3]
	if l, ok := lookup(t, c, e.BlobHandle); !ok || l.Entry(e.BlobHandle) != e {
		t.Fatalf("lookup after reopen: %+v %v", l, ok)
	}
}

// rawSet writes a key directly, bypassing the Cache (to fake old schemas).
func rawSet(t *testing.T, dir string, k, v []byte, del bool) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		if del {
			return txn.Delete(k)
		}
		return txn.Set(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCacheSchemaMismatch(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		v    []byte
		del  bool
	}{{"other version", []byte("2"), false}, {"missing version", nil, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := openDir(t, dir)
			if err := c.StorePack(ctx, ID{1}, makeFile(11, 0, 1, 5).Packs[0].Entries); err != nil {
				t.Fatal(err)
			}
			c.Close()
			rawSet(t, dir, []byte{kindVersion}, tc.v, tc.del)
			c = openDir(t, dir)
			defer c.Close()
			if n, _ := c.Count(); n != 0 {
				t.Fatalf("Count = %d, cache of another schema not wiped", n)
			}
			c.Close()
			// The version is written back: a reopen keeps new data.
			c = openDir(t, dir)
			if err := c.PutMeta([]byte("x"), []byte("y")); err != nil {
				t.Fatal(err)
			}
			c.Close()
			c = openDir(t, dir)
			if _, ok, _ := c.GetMeta([]byte("x")); !ok {
				t.Fatal("data lost across reopen of a current-schema cache")
			}
		})
	}
}

func TestCacheLocked(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, dir)
	defer c.Close()
	c2, err := OpenCache(dir, nil)
	if !errors.Is(err, ErrCacheLocked) {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("second open: err = %v, want ErrCacheLocked", err)
	}
	// Another directory opens fine.
	c3 := openDir(t, t.TempDir())
	c3.Close()
}

func BenchmarkCacheLookup(b *testing.B) {
	ctx := context.Background()
	c, err := OpenCache(b.TempDir(), &Options{Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := mrand.New(mrand.NewPCG(1, 1))
	var all []pack.Entry
	for i := 0; i < 100; i++ {
		es := makeEntries(r, 1000)
		if err := c.StorePack(ctx, randID(r), es); err != nil {
			b.Fatal(err)
		}
		all = append(all, es...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := c.Lookup(ctx, all[i%len(all)].BlobHandle); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkCacheStorePack(b *testing.B) {
	ctx := context.Background()
	c, err := OpenCache(b.TempDir(), &Options{Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := mrand.New(mrand.NewPCG(2, 2))
	packs := make([][]pack.Entry, 64)
	for i := range packs {
		packs[i] = makeEntries(r, 1000)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.StorePack(ctx, randID(r), packs[i%len(packs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/entry")
}
