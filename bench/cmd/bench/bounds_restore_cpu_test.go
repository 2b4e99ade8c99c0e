package main

import (
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestRestoreBoundReadCPU: as the cold backup's bound counts the cold
// read's CPU (TestColdBoundReadCPU), the restore's counts the kernel's CPU
// for reading the repository with a cold cache, which every tool pays on
// the same cores. Rates of the 14:42 run; 0.30 CPU-s is what a cold read
// of corpus A's 2 GiB repository cost here (cat, 8 processes).
func TestRestoreBoundReadCPU(t *testing.T) {
	rep := report1442()
	s := &scenario{Bytes: 2160280259, RepoSize: map[string]int64{}}
	rr := repoRead{Time: 440 * time.Millisecond, Bytes: 2161666931, Workers: 8}
	setRestoreBound(rep, s, "A", rr, writeFloor{})
	without := s.Bound
	if without < 800*time.Millisecond || without > 840*time.Millisecond {
		t.Fatalf("bound without the read's CPU %v, want the 14:42 run's 0.82 s", without)
	}
	rr.CPU = 300 * time.Millisecond
	setRestoreBound(rep, s, "A", rr, writeFloor{})
	// (0.30 + 2.16 GB at 1320 MB/s per core - its 0.11 s page-cache copy) / 2 cores
	if s.Bound < 900*time.Millisecond || s.Bound > 930*time.Millisecond {
		t.Errorf("bound with 0.30 CPU-s of cold read %v, want about 0.915 s (%s)", s.Bound, s.BoundNote)
	}
	if !strings.Contains(s.BoundNote, "cold read's 0.30 CPU-s") || !strings.Contains(s.BoundNote, "cpu-bound") {
		t.Errorf("note %q does not name the cold read's CPU", s.BoundNote)
	}
	// A cheap read does not lower the bound below the pipeline's.
	rr.CPU = time.Millisecond
	setRestoreBound(rep, s, "A", rr, writeFloor{})
	if s.Bound != without {
		t.Errorf("bound with 1 ms of read CPU %v, want the pipeline's %v", s.Bound, without)
	}
}

// TestMeasureRepoReadKeepsCPU: the repository read takes an untimed pass,
// then keeps the fastest depth with that pass's CPU time.
func TestMeasureRepoReadKeepsCPU(t *testing.T) {
	var passes int
	pass := func(dir string, w int, read bool) (ceiling.TreeResult, time.Duration, error) {
		passes++
		if !read || !strings.HasSuffix(dir, "/repo/data") {
			t.Errorf("pass over %s read=%v, want a read of the data directory", dir, read)
		}
		d := time.Duration(100-w) * time.Millisecond
		if passes == 1 {
			d = 10 * time.Second
		}
		return ceiling.TreeResult{Time: d, Bytes: 1 << 30}, time.Duration(w) * 10 * time.Millisecond, nil
	}
	rr, err := measureRepoReadWith("/x/repo", pass, repoReadWorkers, "")
	if err != nil {
		t.Fatal(err)
	}
	if passes != 4 || rr.Workers != 16 || rr.Time != 84*time.Millisecond || rr.CPU != 160*time.Millisecond {
		t.Errorf("%d passes, %+v; want 4 passes and 16 goroutines at 84 ms with 160 ms CPU", passes, rr)
	}
}

// report1442 is a report with the 2-core machine and ceiling rates of the
// 14:42 run.
func report1442() *report {
	return &report{Machine: map[string]string{"cores": "2"}, Rates: ceiling.Rates{
		ReadCached: 19302e6, ReadDisk: 4912e6, Chunk: 3081e6, Hash: 3203e6, Compress: 122e6, Encrypt: 4887e6, WriteCached: 5293e6, WriteFsync: 1515e6,
	}}
}
