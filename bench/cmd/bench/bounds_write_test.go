package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestRestoreBoundWriteFloor: a restore of many small files is bound by
// creating them (corpus B150k: 150 k files, 3.2 GB). The write floor's
// time is the bound when it is the slowest side; its CPU time counts with
// the repository read's and the decryption on the same cores, which makes
// the bound the CPU's when that sum is larger.
func TestRestoreBoundWriteFloor(t *testing.T) {
	rep := report1442()
	s := &scenario{Bytes: 3231e6, RepoSize: map[string]int64{}}
	rr := repoRead{Time: 2 * time.Second, Bytes: 3240e6, Workers: 16, CPU: 1500 * time.Millisecond}
	setRestoreBound(rep, s, "B150k", rr, writeFloor{})
	if !strings.Contains(s.BoundNote, "per-file create costs not counted") {
		t.Errorf("without a write floor: %s", s.BoundNote)
	}
	noFloor := s.Bound

	wf := writeFloor{Time: 5 * time.Second, Workers: 32, CPU: 6 * time.Second,
		Tries: []floorTry{{Workers: 8, Time: 6 * time.Second}, {Workers: 32, Time: 5 * time.Second}}}
	setRestoreBound(rep, s, "B150k", rr, wf)
	// CPU: (1.5 + 3.231 GB / 4887 MB/s + / 3203 MB/s + 6.0) / 2 = 4.58 s < 5 s.
	if s.Bound != wf.Time || !strings.HasPrefix(s.BoundNote, "file-bound") || !strings.Contains(s.BoundNote, "32 goroutines, fastest of 8: 6.00 s, 32: 5.00 s") {
		t.Errorf("bound %v (%s), want the write floor's 5 s, file-bound", s.Bound, s.BoundNote)
	}
	if s.Bound <= noFloor {
		t.Errorf("the write floor did not raise the bound: %v, without it %v", s.Bound, noFloor)
	}

	wf.CPU = 9 * time.Second
	setRestoreBound(rep, s, "B150k", rr, wf)
	sec := (1.5 + 3231.0/4887 + 3231.0/3203 + 9) / 2
	want := time.Duration(sec * float64(time.Second))
	if d := s.Bound - want; d < -5*time.Millisecond || d > 5*time.Millisecond || !strings.Contains(s.BoundNote, "cpu-bound") ||
		!strings.Contains(s.BoundNote, "the write floor's 9.00 CPU-s") || !strings.Contains(s.BoundNote, "cold read's 1.50 CPU-s") {
		t.Errorf("bound %v (%s), want cpu-bound %v", s.Bound, s.BoundNote, want)
	}
}

// TestMeasureWriteFloorKeepsFastest: every depth is timed into an empty
// scratch directory, which is gone afterwards; the fastest is kept with
// its CPU time.
func TestMeasureWriteFloorKeepsFastest(t *testing.T) {
	scratch := filepath.Join(t.TempDir(), "wf")
	var seen []int
	pass := func(plan ceiling.TreePlan, dst string, w int) (ceiling.TreeResult, time.Duration, error) {
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("pass %d: scratch exists before the pass (%v)", w, err)
		}
		seen = append(seen, w)
		os.MkdirAll(dst, 0o755) // what WriteTree leaves
		d := map[int]time.Duration{8: 3 * time.Second, 32: 2 * time.Second}[w]
		return ceiling.TreeResult{Time: d}, time.Duration(w) * time.Second, nil
	}
	wf, err := measureWriteFloorWith(ceiling.TreePlan{}, scratch, pass, floorWriteWorkers, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(floorWriteWorkers) || wf.Workers != 32 || wf.Time != 2*time.Second || wf.CPU != 32*time.Second || len(wf.Tries) != 2 {
		t.Errorf("passes %v, floor %+v; want both depths, 32 goroutines at 2 s with 32 CPU-s", seen, wf)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch left behind: %v", err)
	}
}

// TestWriteFloorDepthsLargeCorpus: the large corpus times only the depth
// that was fastest on corpus B, and its note says so.
func TestWriteFloorDepthsLargeCorpus(t *testing.T) {
	rep := &report{WriteFloors: map[string]writeFloor{}}
	if ws, from := writeFloorDepths(rep, "B500k", "B500k"); len(ws) != len(floorWriteWorkers) || from != "" {
		t.Errorf("without corpus B's floor: %v from %q, want every depth", ws, from)
	}
	rep.WriteFloors["B"] = writeFloor{Time: time.Second, Workers: 32}
	if ws, from := writeFloorDepths(rep, "B500k", "B500k"); len(ws) != 1 || ws[0] != 32 || from != "B" {
		t.Errorf("large corpus: %v from %q, want [32] from B", ws, from)
	}
	if ws, from := writeFloorDepths(rep, "A", "B500k"); len(ws) != len(floorWriteWorkers) || from != "" {
		t.Errorf("corpus A: %v from %q, want every depth", ws, from)
	}
	var seen []int
	pass := func(plan ceiling.TreePlan, dst string, w int) (ceiling.TreeResult, time.Duration, error) {
		seen = append(seen, w)
		return ceiling.TreeResult{Time: 4 * time.Second}, time.Second, nil
	}
	wf, err := measureWriteFloorWith(ceiling.TreePlan{}, filepath.Join(t.TempDir(), "s"), pass, []int{32}, "B")
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || !strings.Contains(wf.note(), "only the fastest depth on corpus B in this run was timed") {
		t.Errorf("passes %v, note %q", seen, wf.note())
	}
}
