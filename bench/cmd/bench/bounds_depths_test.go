package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// corpusBTries are corpus B's passes of the 14:42 run (50,000 files):
// walk 64 fastest, read 8 fastest.
func corpusBTries() []floorTry {
	ms := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	return []floorTry{
		{Workers: 1, Time: ms(3.9)}, {Workers: 8, Time: ms(2.3)}, {Workers: 16, Time: ms(2.2)}, {Workers: 32, Time: ms(2.4)}, {Workers: 64, Time: ms(2.1)},
		{Read: true, Workers: 8, Time: ms(5.01)}, {Read: true, Workers: 16, Time: ms(5.05)}, {Read: true, Workers: 32, Time: ms(5.3)}, {Read: true, Workers: 64, Time: ms(5.6)},
	}
}

// TestFloorDepthsLargeCorpus: the large corpus times only the two fastest
// depths of each kind on corpus B of the same run, every other corpus (and
// the large one when B was not measured) all of them.
func TestFloorDepthsLargeCorpus(t *testing.T) {
	rep := &report{Floors: map[string]floors{"B": {Tries: corpusBTries()}}}
	d := floorDepths(rep, "B500k", "B500k")
	if !slices.Equal(d.Walk, []int{16, 64}) || !slices.Equal(d.Read, []int{8, 16}) || d.From != "B" {
		t.Errorf("large corpus: %+v, want walk [16 64], read [8 16] from B", d)
	}
	for _, name := range []string{"A", "B", "D"} {
		if d := floorDepths(rep, name, "B500k"); !slices.Equal(d.Walk, floorWalkWorkers) || !slices.Equal(d.Read, floorReadWorkers) || d.From != "" {
			t.Errorf("corpus %s: %+v, want every depth", name, d)
		}
	}
	if d := floorDepths(&report{Floors: map[string]floors{}}, "B500k", "B500k"); !slices.Equal(d.Read, floorReadWorkers) || d.From != "" {
		t.Errorf("no corpus B in the run: %+v, want every depth", d)
	}
}

// TestMeasureFloorsOnlyGivenDepths: with the large corpus's depths, one
// untimed pass and the given depths of each kind run, nothing else, and
// the bound's note says that only B's fastest depths were timed.
func TestMeasureFloorsOnlyGivenDepths(t *testing.T) {
	var walks, reads []int
	pass := func(dir string, w int, read bool) (ceiling.TreeResult, time.Duration, error) {
		if read {
			reads = append(reads, w)
		} else {
			walks = append(walks, w)
		}
		return ceiling.TreeResult{Time: time.Duration(100-w) * time.Millisecond, Dirs: 1, Files: 1}, time.Second, nil
	}
	d := depths{Walk: []int{16, 64}, Read: []int{8, 16}, From: "B"}
	f, err := measureFloorsWith("/big", pass, d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(walks, []int{64, 16, 64}) || !slices.Equal(reads, []int{16, 8, 16}) {
		t.Errorf("passes: walk %v read %v; want an untimed pass at the deepest, then the given depths", walks, reads)
	}
	if len(f.Tries) != 4 || f.WalkWorkers != 64 || f.ReadWorkers != 16 {
		t.Errorf("floors %+v", f)
	}
	note := f.workersNote(true)
	if !strings.Contains(note, "fastest of 8: 0.09 s, 16: 0.08 s; only the 2 fastest depths on corpus B in this run were timed") {
		t.Errorf("note %q does not say which depths were timed", note)
	}
	if n := (floors{ReadWorkers: 8, Tries: []floorTry{{Read: true, Workers: 8}, {Read: true, Workers: 16}}}).workersNote(true); strings.Contains(n, "only the") {
		t.Errorf("every depth timed, yet the note says %q", n)
	}
}

// TestRepoReadDepths: the large corpus's repository read times the two
// fastest depths of corpus B's repository read, after one untimed pass.
func TestRepoReadDepths(t *testing.T) {
	var calls []int
	read := func(dir string, w int, read bool) (ceiling.TreeResult, time.Duration, error) {
		if !read || !strings.HasSuffix(dir, "/data") {
			t.Fatalf("read of %q, want the repository's data directory", dir)
		}
		calls = append(calls, w)
		return ceiling.TreeResult{Time: time.Duration(w) * time.Millisecond, Bytes: 7}, 0, nil
	}
	b, err := measureRepoReadWith("/repo", read, repoReadWorkers, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int{16, 4, 8, 16}) || b.Workers != 4 || len(b.Tries) != 3 {
		t.Fatalf("corpus B: calls %v, result %+v", calls, b)
	}
	rep := &report{RepoReads: map[string]repoRead{"B": b}}
	ws, from := repoReadDepths(rep, "B500k", "B500k")
	if !slices.Equal(ws, []int{4, 8}) || from != "B" {
		t.Errorf("large corpus: %v from %q, want [4 8] from B", ws, from)
	}
	if ws, from := repoReadDepths(rep, "D", "B500k"); !slices.Equal(ws, repoReadWorkers) || from != "" {
		t.Errorf("corpus D: %v from %q, want every depth", ws, from)
	}
	calls = nil
	big, err := measureRepoReadWith("/repo", read, ws, from)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int{8, 4, 8}) || big.From != "B" {
		t.Errorf("large corpus: calls %v, result %+v", calls, big)
	}
}
