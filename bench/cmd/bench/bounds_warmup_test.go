package main

import (
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestMeasureFloorsWarmsUpFirst: the first pass of each kind over a tree
// reads the device (the VM's host has not cached it yet) and is slow; a
// floor that timed it would credit the depths measured after it with the
// host's cache. The first pass of each kind is untimed, so with a device
// that is slow only on first contact, every depth is timed warm and the
// fastest genuinely fastest depth is kept (here 8 goroutines, which the
// old order timed first and slowest).
func TestMeasureFloorsWarmsUpFirst(t *testing.T) {
	seen := map[bool]bool{}
	var passes int
	pass := func(dir string, w int, read bool) (ceiling.TreeResult, time.Duration, error) {
		passes++
		d := time.Duration(w) * time.Millisecond // deeper is slower once cached
		if !seen[read] {
			seen[read] = true
			d = 10 * time.Second // first contact: the device
		}
		return ceiling.TreeResult{Time: d, Dirs: 1, Files: 1}, d, nil
	}
	f, err := measureFloorsWith("/corpus", pass, allDepths())
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + len(floorWalkWorkers) + len(floorReadWorkers); passes != want {
		t.Errorf("%d passes, want %d (one untimed of each kind)", passes, want)
	}
	if len(f.Tries) != len(floorWalkWorkers)+len(floorReadWorkers) {
		t.Errorf("tries %+v: the warm-up pass must not be recorded", f.Tries)
	}
	for _, tr := range f.Tries {
		if tr.Time >= 10*time.Second {
			t.Errorf("a timed pass was the first contact: %+v", tr)
		}
	}
	if f.ReadWorkers != 8 || f.Read != 8*time.Millisecond {
		t.Errorf("read floor %v with %d goroutines, want 8ms with 8", f.Read, f.ReadWorkers)
	}
	if f.WalkWorkers != 1 || f.Walk != time.Millisecond {
		t.Errorf("walk floor %v with %d goroutines, want 1ms with 1", f.Walk, f.WalkWorkers)
	}
}
