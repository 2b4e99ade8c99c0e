package index

import (
	"context"
	"encoding/binary"
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
			pb := PackBlobs{Entries: make([]pack.Entry, 256)}
			binary.LittleEndian.PutUint64(pb.Pack[:], rng.Uint64())
			for i := range pb.Entries {
				e := &pb.Entries[i]
				e.Type = pack.DataBlob
				for j := 0; j < len(e.ID); j += 8 {
					binary.LittleEndian.PutUint64(e.ID[j:], rng.Uint64())
				}
				e.Offset, e.Length, e.RawLength = uint32(i)<<12, 1<<12, 1<<12
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

	run := func(name string, opts *Options, lookup func(c *Cache, h pack.BlobHandle) (bool, error)) {
		b.Run(name, func(b *testing.B) {
			c, err := OpenCache(dir, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			u0, s0, f0 := rusage()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h := handles[r.IntN(len(handles))]
				if ok, err := lookup(c, h); err != nil || !ok {
					b.Fatalf("%v: found %v, %v", h, ok, err)
				}
			}
			b.StopTimer()
			u1, s1, f1 := rusage()
			b.ReportMetric(float64(u1-u0)/float64(b.N), "usr-ns/op")
			b.ReportMetric(float64(s1-s0)/float64(b.N), "sys-ns/op")
			b.ReportMetric(float64(f1-f0)/float64(b.N), "minflt/op")
		})
	}
	lookup := func(c *Cache, h pack.BlobHandle) (bool, error) {
		_, ok, err := c.Lookup(ctx, h)
		return ok, err
	}
	has := func(c *Cache, h pack.BlobHandle) (bool, error) { return c.Has(ctx, h) }
	run("Lookup", &Options{Logf: b.Logf}, lookup)
	run("Has", &Options{Logf: b.Logf}, has)
	run("LookupNoTrim", &Options{Logf: b.Logf, TrimInterval: -1}, lookup)

	// Batches of random present handles: per key figures.
	for _, n := range []int{4, 64, 1024, 65536} {
		b.Run(fmt.Sprintf("LookupMany%d", n), func(b *testing.B) {
			c, err := OpenCache(dir, &Options{Logf: b.Logf})
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
				_, found, err := c.LookupMany(ctx, batch)
				if err != nil {
					b.Fatal(err)
				}
				for j, ok := range found {
					if !ok {
						b.Fatalf("%v not found", batch[j])
					}
				}
				keys += n
			}
			b.StopTimer()
			u1, s1, f1 := rusage()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(keys), "ns/key")
			b.ReportMetric(float64(u1-u0)/float64(keys), "usr-ns/key")
			b.ReportMetric(float64(s1-s0)/float64(keys), "sys-ns/key")
			b.ReportMetric(float64(f1-f0)/float64(keys), "minflt/key")
		})
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
			c, err := OpenCache(dir, &Options{Logf: b.Logf})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := rand.New(rand.NewPCG(3, 4))
			batch := make([]pack.BlobHandle, n)
			u0, s0, _ := rusage()
			b.ResetTimer()
			keys := 0
			for keys < b.N {
				for j := range batch {
					batch[j] = handles[r.IntN(len(handles))]
				}
				if n == 1 {
					if _, ok, err := c.Lookup(ctx, batch[0]); err != nil || !ok {
						b.Fatal(ok, err)
					}
				} else if _, _, err := c.LookupMany(ctx, batch); err != nil {
					b.Fatal(err)
				}
				keys += n
			}
			b.StopTimer()
			u1, s1, _ := rusage()
			b.ReportMetric(float64(u1-u0)/float64(keys), "usr-ns/key")
			b.ReportMetric(float64(s1-s0)/float64(keys), "sys-ns/key")
		})
	}
}
