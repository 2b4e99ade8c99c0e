//go:build !race

package index

import (
	"context"
	"io"
	"math/rand/v2"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// A bulk load's heap must stay bounded: small tables, few of them being
// written at once, small batches. (The StreamWriter's default 64 MiB
// tables alone took 2 × 128 MiB.) The heap in use is sampled every
// millisecond while 400,000 records — 7 tables — are loaded, given as two
// index files made on demand, each of about 10 MiB decoded.
func TestBulkLoadHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const (
		records = 400_000
		perFile = 200_000
		bound   = 112 << 20
	)
	c, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(stop); <-stopped }) }
	defer end()
	go func() {
		defer close(stopped)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()

	rng := rand.New(rand.NewPCG(8, 9))
	done := 0
	next := func() (ID, *File, error) {
		if done == records {
			return ID{}, nil, io.EOF
		}
		f := &File{}
		for range perFile / 64 {
			f.Packs = append(f.Packs, randDataPack(rng, 64, 1<<20))
		}
		done += perFile
		return ID{byte(done >> 16), byte(done >> 8), byte(done)}, f, nil
	}
	start := time.Now()
	if _, err := c.BulkLoad(context.Background(), t.TempDir(), next); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	end()
	if n, err := c.Count(); err != nil || n != records {
		t.Fatalf("count %d, %v", n, err)
	}
	t.Logf("%d records in %v, peak heap %.1f MiB", records, elapsed.Round(time.Millisecond), float64(peak)/(1<<20))
	if peak > bound {
		t.Fatalf("peak heap %.1f MiB during the bulk load, want at most %d MiB", float64(peak)/(1<<20), bound>>20)
	}
}
