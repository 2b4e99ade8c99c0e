package main

import (
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestMeasureFloorsKeepsFastest: every goroutine count is tried and the
// fastest pass of each kind is the floor, with that pass's CPU time (the
// floors used to be 8 goroutines for the read whatever was faster).
func TestMeasureFloorsKeepsFastest(t *testing.T) {
	walk := map[int]time.Duration{1: 9 * time.Second, 8: 5 * time.Second, 16: 4 * time.Second, 32: 4500 * time.Millisecond, 64: 6 * time.Second}
	read := map[int]time.Duration{8: 14 * time.Second, 16: 12 * time.Second, 32: 11 * time.Second, 64: 11500 * time.Millisecond}
	var calls []string
	pass := func(dir string, w int, rd bool) (ceiling.TreeResult, time.Duration, error) {
		if dir != "/corpus" {
			t.Fatalf("pass over %q", dir)
		}
		d := walk[w]
		if rd {
			d = read[w]
		}
		if d == 0 {
			t.Fatalf("unexpected pass: read %v, %d goroutines", rd, w)
		}
		calls = append(calls, time.Duration(w).String())
		// CPU time tells the passes apart: 100 ms per goroutine, +1 s for a read.
		cpu := time.Duration(w) * 100 * time.Millisecond
		if rd {
			cpu += time.Second
		}
		return ceiling.TreeResult{Time: d, Dirs: 10, Files: 20}, cpu, nil
	}
	f, err := measureFloorsWith("/corpus", pass, allDepths())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tries) != len(floorWalkWorkers)+len(floorReadWorkers) {
		t.Fatalf("tries %+v, want one per goroutine count of each kind", f.Tries)
	}
	if f.Walk != 4*time.Second || f.WalkWorkers != 16 || f.WalkCPU != 1600*time.Millisecond {
		t.Errorf("walk floor %v with %d goroutines, %v CPU; want 4s, 16, 1.6s", f.Walk, f.WalkWorkers, f.WalkCPU)
	}
	if f.Read != 11*time.Second || f.ReadWorkers != 32 || f.ReadCPU != 4200*time.Millisecond {
		t.Errorf("read floor %v with %d goroutines, %v CPU; want 11s, 32, 4.2s", f.Read, f.ReadWorkers, f.ReadCPU)
	}
	if f.Dirs != 10 || f.Files != 20 {
		t.Errorf("dirs %d files %d", f.Dirs, f.Files)
	}
	if got, want := f.triesNote(true), "8: 14.00 s, 16: 12.00 s, 32: 11.00 s, 64: 11.50 s"; got != want {
		t.Errorf("read tries %q, want %q", got, want)
	}
}

// TestColdBoundReadCPU: figures of corpus B150k on the benchmark VM
// (2 cores, loaded): reading every file cold took 17.3 CPU-s, mostly
// kernel time. The cores must run that and the pipeline's own work, so
// the bound cannot be below (17.3 s + pipeline CPU-s) / 2, even when a
// deep queue brings the read's wall time down to 9 s.
func TestColdBoundReadCPU(t *testing.T) {
	rep := &report{Machine: map[string]string{"cores": "2"}, Rates: ceiling.Rates{
		ReadCached: 19145e6, ReadDisk: 4263e6, Chunk: 2887e6, Hash: 3139e6, Encrypt: 4503e6, WriteCached: 4579e6, WriteFsync: 1340e6,
	}}
	s := &scenario{Bytes: 3231374231, RepoSize: map[string]int64{}}
	fl := floors{Read: 7 * time.Second, ReadWorkers: 64, ReadCPU: 17300 * time.Millisecond}
	setColdBound(rep, s, "B150k", fl)
	l := rep.Rates.PipelineLimit(2, true)
	pipe := float64(s.Bytes)/l.CPUPerCore - float64(s.Bytes)/rep.Rates.ReadCached
	want := time.Duration((17.3 + pipe) / 2 * float64(time.Second))
	if d := s.Bound - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("bound %v, want %v (%s)", s.Bound, want, s.BoundNote)
	}
	if !strings.Contains(s.BoundNote, "cpu-bound") || !strings.Contains(s.BoundNote, "17.30 CPU-s") {
		t.Errorf("note %q: want cpu-bound with the read's CPU time", s.BoundNote)
	}
	disk := 7*time.Second + durationFor(s.Bytes, rep.Rates.WriteFsync)
	if s.Bound <= disk {
		t.Errorf("bound %v not above the disk's %v: the read's CPU time was not counted", s.Bound, disk)
	}

	// Without a measured CPU time (another OS) the disk stays the bound.
	fl.ReadCPU = 0
	setColdBound(rep, s, "B150k", fl)
	if d := s.Bound - disk; d < -time.Millisecond || d > time.Millisecond || !strings.HasPrefix(s.BoundNote, "disk-bound") {
		t.Errorf("no CPU time: bound %v (%s), want the disk's %v", s.Bound, s.BoundNote, disk)
	}
}
