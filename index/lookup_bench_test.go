package index

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/pack"
)

// BenchmarkCacheLookupLarge looks up random present blobs in an on-disk
// cache of lookupBenchEntries entries (bulk-loaded: every entry at the
// last level, as after a first backup of a large repository). Besides
// ns/op it reports the process's user and system CPU per lookup (getrusage):
// a lookup reads Badger's memory-mapped tables, and the trims that keep the
// resident size bounded (trimMappings) make those reads minor page faults,
// which pprof attributes to the faulting Go function.
//
//	go test -run '^$' -bench CacheLookupLarge -benchtime 200000x ./index/
const lookupBenchEntries = 1 << 20

func BenchmarkCacheLookupLarge(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	handles := make([]pack.BlobHandle, 0, lookupBenchEntries)
	c, err := OpenCache(dir, &Options{Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	done := false
	_, err = c.BulkLoad(ctx, b.TempDir(), func() (ID, *File, error) {
		if done {
			return ID{}, nil, io.EOF
		}
		done = true
		f := &File{}
		for len(handles) < lookupBenchEntries {
			pb := randDataPack(rng, 256, 1<<12)
			for _, e := range pb.Entries {
				handles = append(handles, e.BlobHandle)
			}
			f.Packs = append(f.Packs, pb)
		}
		return ID{1}, f, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("bulk load of %d entries: %v", len(handles), time.Since(start).Round(time.Millisecond))

	lookup := lookupFirst(ctx)
	has := func(c *Cache, batch []pack.BlobHandle) error {
		if ok, err := c.Has(ctx, batch[0]); err != nil || !ok {
			return fmt.Errorf("%v: found %v, %v", batch[0], ok, err)
		}
		return nil
	}
	b.Run("Lookup", func(b *testing.B) { benchLookups(b, dir, 0, handles, 1, "op", lookup) })
	b.Run("Has", func(b *testing.B) { benchLookups(b, dir, 0, handles, 1, "op", has) })
	b.Run("LookupNoTrim", func(b *testing.B) { benchLookups(b, dir, -1, handles, 1, "op", lookup) })

	// Batches of random present handles: per key figures.
	for _, n := range []int{4, 64, 1024, 65536} {
		b.Run(fmt.Sprintf("LookupMany%d", n), func(b *testing.B) {
			benchLookups(b, dir, 0, handles, n, "key", func(c *Cache, batch []pack.BlobHandle) error {
				_, found, err := c.LookupMany(ctx, batch)
				if err != nil {
					return err
				}
				for j, ok := range found {
					if !ok {
						return fmt.Errorf("%v not found", batch[j])
					}
				}
				return nil
			})
		})
	}
}

// benchLookups opens the cache in dir (with the trim interval given) and
// looks up batches of n random handles (drawn by the same generator in
// every sub-benchmark) with lookup until b.N keys have been looked up.
// Besides ns/op and the allocations it reports the user and system CPU
// time and the minor page faults per unit ("op": b.N counts lookups;
// "key": b.N counts keys, and ns/key is reported too).
func benchLookups(b *testing.B, dir string, trim time.Duration, handles []pack.BlobHandle, n int, unit string, lookup func(c *Cache, batch []pack.BlobHandle) error) {
	c, err := OpenCache(dir, &Options{Logf: b.Logf, TrimInterval: trim})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(3, 4))
	batch := make([]pack.BlobHandle, n)
	b.ReportAllocs()
	u0, s0, f0 := rusage()
	b.ResetTimer()
	keys := 0
	for keys < b.N {
		for j := range batch {
			batch[j] = handles[r.IntN(len(handles))]
		}
		if err := lookup(c, batch); err != nil {
			b.Fatal(err)
		}
		keys += n
	}
	b.StopTimer()
	u1, s1, f1 := rusage()
	if unit == "key" {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(keys), "ns/key")
	}
	b.ReportMetric(float64(u1-u0)/float64(keys), "usr-ns/"+unit)
	b.ReportMetric(float64(s1-s0)/float64(keys), "sys-ns/"+unit)
	b.ReportMetric(float64(f1-f0)/float64(keys), "minflt/"+unit)
}

// lookupFirst returns a benchLookups lookup that looks up the batch's
// first handle with Lookup and fails if it is not found.
func lookupFirst(ctx context.Context) func(c *Cache, batch []pack.BlobHandle) error {
	return func(c *Cache, batch []pack.BlobHandle) error {
		if _, ok, err := c.Lookup(ctx, batch[0]); err != nil || !ok {
			return fmt.Errorf("%v: found %v, %v", batch[0], ok, err)
		}
		return nil
	}
}

// BenchmarkTrimCost measures one trimMappings after 0, 256 and 2000 random
// lookups in a cache of 200 k entries (trim-ns: the trim alone; sys-ns,
// usr-ns, minflt: the whole round, lookups' faults included).
func BenchmarkTrimCost(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	c, err := OpenCache(dir, &Options{Logf: b.Logf, TrimInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(11, 12))
	var handles []pack.BlobHandle
	for p := 0; p < 200; p++ {
		es := makeEntries(rng, 1000)
		if err := c.StorePack(ctx, randID(rng), es); err != nil {
			b.Fatal(err)
		}
		for _, e := range es {
			handles = append(handles, e.BlobHandle)
		}
	}
	abs, _ := filepath.Abs(dir)
	abs += "/"
	for _, n := range []int{0, 256, 2000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var tt time.Duration
			u0, s0, f0 := rusage()
			for i := 0; i < b.N; i++ {
				for j := 0; j < n; j++ {
					c.Lookup(ctx, handles[rng.IntN(len(handles))])
				}
				t0 := time.Now()
				trimMappings(abs)
				tt += time.Since(t0)
			}
			u1, s1, f1 := rusage()
			b.ReportMetric(float64(tt.Nanoseconds())/float64(b.N), "trim-ns")
			b.ReportMetric(float64(s1-s0)/float64(b.N), "sys-ns")
			b.ReportMetric(float64(u1-u0)/float64(b.N), "usr-ns")
			b.ReportMetric(float64(f1-f0)/float64(b.N), "minflt")
		})
	}
}

// BenchmarkCacheLookupLevels compares point and batched lookups in a cache
// written pack by pack (StorePack, as a backup writes it), whose entries
// are spread over several levels.
func BenchmarkCacheLookupLevels(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	c, err := OpenCache(dir, &Options{Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	var handles []pack.BlobHandle
	for p := 0; p < 300; p++ {
		es := makeEntries(rng, 1000)
		if err := c.StorePack(ctx, randID(rng), es); err != nil {
			b.Fatal(err)
		}
		for _, e := range es {
			handles = append(handles, e.BlobHandle)
		}
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 4, 1024, 16384, 65536, 131072} {
		b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
			lookup := lookupFirst(ctx)
			if n > 1 {
				lookup = func(c *Cache, batch []pack.BlobHandle) error {
					_, _, err := c.LookupMany(ctx, batch)
					return err
				}
			}
			benchLookups(b, dir, 0, handles, n, "key", lookup)
		})
	}
}
