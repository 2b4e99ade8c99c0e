package main

import (
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestColdBoundDisk: the figures of the 2026-12-06 run (corpus A). The
// ceiling's disk read rate (5348 MB/s, one just-written file) made the
// disk bound 1.80 s; the corpus's own read took 0.95 s and the fsync'd
// write of 2.16 GB at 1544 MB/s 1.40 s, so the disk allows no less than
// 2.35 s. The CPU (1871 MB/s on 2 cores, 1.15 s) is not the limit.
func TestColdBoundDisk(t *testing.T) {
	rep := &report{Machine: map[string]string{"cores": "2"}, Rates: ceiling.Rates{
		ReadCached: 9000e6, ReadDisk: 5348e6, Chunk: 2500e6, Hash: 3000e6, Encrypt: 3500e6, WriteCached: 6000e6, WriteFsync: 1544e6,
	}}
	s := &scenario{Bytes: 2160e6, RepoSize: map[string]int64{}}
	setColdBound(rep, s, "A", floors{Read: 950 * time.Millisecond, ReadWorkers: 8})
	want := 950*time.Millisecond + durationFor(2160e6, 1544e6)
	if d := s.Bound - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("bound %v, want %v (%s)", s.Bound, want, s.BoundNote)
	}
	if !strings.HasPrefix(s.BoundNote, "disk-bound") {
		t.Errorf("note %q: want disk-bound", s.BoundNote)
	}

	// A slow CPU: the pipeline is the bound.
	rep.Rates.Chunk, rep.Rates.Hash = 200e6, 200e6
	setColdBound(rep, s, "A", floors{Read: 950 * time.Millisecond, ReadWorkers: 8})
	if s.Bound <= want || !strings.Contains(s.BoundNote, "cpu-bound") {
		t.Errorf("slow CPU: bound %v (%s), want cpu-bound above %v", s.Bound, s.BoundNote, want)
	}
}
