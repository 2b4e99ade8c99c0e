package main

import (
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestRestoreBoundDisk: the ceiling of the 2026-12-06 12:02 run and the
// repository read measured at 13:24 (corpus A, 2160 MB, 126 pack files of
// 2162 MB; best of 4, 8 and 16 goroutines after dropping the cache: 1.08 s,
// the ceiling's one just-written file read at 4263 MB/s, 0.51 s). The
// restore pipeline's CPU limit on 2 cores is 2465 MB/s, 0.88 s: the old
// bound, although the pack files alone take 1.08 s to come off the disk.
func TestRestoreBoundDisk(t *testing.T) {
	rep := &report{Machine: map[string]string{"cores": "2"}, Rates: ceiling.Rates{
		ReadCached: 19145e6, ReadDisk: 4263e6, Chunk: 2887e6, Hash: 3139e6, Compress: 111e6, Encrypt: 4503e6, WriteCached: 4579e6, WriteFsync: 1340e6,
	}}
	rr := repoRead{Time: 1080 * time.Millisecond, Bytes: 2161666931, Workers: 4}
	s := &scenario{Bytes: 2160280259, RepoSize: map[string]int64{}}
	setRestoreBound(rep, s, "A", rr, writeFloor{})
	if s.Bound != rr.Time || !strings.HasPrefix(s.BoundNote, "disk-bound") {
		t.Errorf("bound %v (%s), want the repository read %v, disk-bound", s.Bound, s.BoundNote, rr.Time)
	}

	// Without a measured read (no immich-vault repository), the ceiling's
	// disk rate: the CPU is then the bound, 2465 MB/s.
	setRestoreBound(rep, s, "A", repoRead{}, writeFloor{})
	cpu := durationFor(s.Bytes, rep.Rates.RestoreLimit(2, true).CPU)
	if d := cpu - 876*time.Millisecond; d < -2*time.Millisecond || d > 2*time.Millisecond {
		t.Fatalf("restore CPU limit %v, want 0.876 s", cpu)
	}
	if s.Bound != cpu || !strings.Contains(s.BoundNote, "cpu-bound") {
		t.Errorf("no measured read: bound %v (%s), want cpu-bound %v", s.Bound, s.BoundNote, cpu)
	}

	// A slow CPU: the pipeline is the bound even with the measured read.
	slow := *rep
	slow.Rates.Hash = 500e6
	setRestoreBound(&slow, s, "A", rr, writeFloor{})
	if s.Bound <= rr.Time || !strings.Contains(s.BoundNote, "cpu-bound") {
		t.Errorf("slow CPU: bound %v (%s), want cpu-bound above %v", s.Bound, s.BoundNote, rr.Time)
	}

	// Corpus D: the measured read is of the stored (compressed) packs; the
	// ceiling's rate applies to the stored fraction only.
	d := &scenario{Bytes: 806e6, RepoSize: map[string]int64{"immich-vault": 403e6}}
	setRestoreBound(rep, d, "D", repoRead{}, writeFloor{})
	if want := durationFor(806e6, rep.Rates.RestoreLimit(2, true).CPU); d.Bound != want {
		t.Errorf("D without a measured read: bound %v (%s), want cpu %v", d.Bound, d.BoundNote, want)
	}
	setRestoreBound(rep, d, "D", repoRead{Time: 500 * time.Millisecond, Bytes: 403e6, Workers: 8}, writeFloor{})
	if d.Bound != 500*time.Millisecond || !strings.HasPrefix(d.BoundNote, "disk-bound") {
		t.Errorf("D: bound %v (%s), want the measured 0.5 s", d.Bound, d.BoundNote)
	}
}
