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

// TestBoundsUseTheMeasuredRead: the 2026-12-07 06:03 run's figures. The
// ceiling's one-goroutine read of one file ran at 784 MB/s, while 32
// goroutines read corpus A's files in 1.05 s (2.0 GB/s) and 16 read its
// repository's packs in 1.13 s. The bounds took the slower of the two
// (2.76 s for each read) and came out slower than the backup and the
// restore they bound: cold A at 124 %, restore A at 106 % of them.
func TestBoundsUseTheMeasuredRead(t *testing.T) {
	rep := &report{Machine: map[string]string{"cores": "2"}, Rates: ceiling.Rates{
		ReadCached: 13600e6, ReadDisk: 784e6, Chunk: 2376e6, Hash: 3000e6, Compress: 82e6, Encrypt: 3795e6, WriteCached: 3365e6, WriteFsync: 904e6,
	}}
	cold := &scenario{Bytes: 2160280259, RepoSize: map[string]int64{}}
	fl := floors{Read: 1054597864, ReadWorkers: 32, ReadCPU: 890 * time.Millisecond}
	setColdBound(rep, cold, "A", fl)
	want := fl.Read + durationFor(cold.Bytes, rep.Rates.WriteFsync)
	if d := cold.Bound - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("cold bound %v (%s), want the corpus's read %v + the write %v", cold.Bound, cold.BoundNote, fl.Read, want-fl.Read)
	}
	// Without a measured read, the ceiling's rate is all there is.
	setColdBound(rep, cold, "A", floors{})
	if want := durationFor(cold.Bytes, rep.Rates.ReadDisk) + durationFor(cold.Bytes, rep.Rates.WriteFsync); cold.Bound != want {
		t.Errorf("no measured read: cold bound %v, want %v", cold.Bound, want)
	}

	rs := &scenario{Bytes: 2160280259, RepoSize: map[string]int64{}}
	rr := repoRead{Time: 1128258473, Bytes: 2161164003, Workers: 16, CPU: 670 * time.Millisecond}
	setRestoreBound(rep, rs, "A", rr, writeFloor{})
	if rs.Bound >= durationFor(rr.Bytes, rep.Rates.ReadDisk) {
		t.Errorf("restore bound %v (%s): the ceiling's slower read %v, not the measured %v", rs.Bound, rs.BoundNote, durationFor(rr.Bytes, rep.Rates.ReadDisk), rr.Time)
	}
	if rs.Bound < rr.Time {
		t.Errorf("restore bound %v under the measured read %v", rs.Bound, rr.Time)
	}
}
