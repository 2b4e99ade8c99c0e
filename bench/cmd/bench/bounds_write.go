package main

import (
	"fmt"
	"os"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// writeFloor is the target side of a restore: the time to create and
// write every file of the corpus (same directories, names and sizes) into
// an empty directory and set each file's mtime, without fsync, as a
// restorer does. The byte-rate limit leaves these per-file costs out; with
// 150 k thumbnails they are most of a restore.
type writeFloor struct {
	Time    time.Duration
	Workers int
	CPU     time.Duration
	Tries   []floorTry
	From    string // "": every depth of floorWriteWorkers; "B": only corpus B's fastest
}

// writeFloorDepths: every count of floorWriteWorkers, or on the large
// corpus (big) only the one that was fastest on corpus B in this run
// (writing and then removing 500 k files takes minutes a pass).
func writeFloorDepths(rep *report, name, big string) ([]int, string) {
	b, ok := rep.WriteFloors["B"]
	if name != big || !ok || b.Workers == 0 {
		return floorWriteWorkers, ""
	}
	return []int{b.Workers}, "B"
}

// floorWriteWorkers are the goroutine counts the write floor is timed with.
var floorWriteWorkers = []int{8, 32}

// writePass runs one timed pass of the write floor into dst.
type writePass func(plan ceiling.TreePlan, dst string, workers int) (ceiling.TreeResult, time.Duration, error)

// coldWritePass syncs and drops the page cache (no dirty pages of an
// earlier pass are written back during this one), then times
// ceiling.WriteTree and this process's CPU time in it.
func coldWritePass(plan ceiling.TreePlan, dst string, workers int) (ceiling.TreeResult, time.Duration, error) {
	dropCaches()
	c0 := selfCPU()
	r, err := ceiling.WriteTree(plan, dst, workers)
	return r, selfCPU() - c0, err
}

// measureWriteFloorWith writes the planned tree into scratch with every
// depth of ws, removing it after each pass; the fastest pass
// is kept, with its CPU time.
func measureWriteFloorWith(plan ceiling.TreePlan, scratch string, pass writePass, ws []int, from string) (writeFloor, error) {
	wf := writeFloor{From: from}
	os.RemoveAll(scratch)
	defer os.RemoveAll(scratch)
	for _, w := range ws {
		r, cpu, err := pass(plan, scratch, w)
		os.RemoveAll(scratch)
		if err != nil {
			return wf, fmt.Errorf("write floor with %d goroutines: %w", w, err)
		}
		wf.Tries = append(wf.Tries, floorTry{Read: false, Workers: w, Time: r.Time, CPU: cpu})
		if wf.Time == 0 || r.Time < wf.Time {
			wf.Time, wf.Workers, wf.CPU = r.Time, w, cpu
		}
	}
	return wf, nil
}

// note: "5.12 s (8 goroutines, fastest of 8: 5.12 s, 32: 5.40 s; 3.1 CPU-s)".
func (wf writeFloor) note() string {
	n := fmt.Sprintf("%.2f s (%d goroutines", wf.Time.Seconds(), wf.Workers)
	if len(wf.Tries) > 1 {
		n += ", fastest of"
		for i, t := range wf.Tries {
			if i > 0 {
				n += ","
			}
			n += fmt.Sprintf(" %d: %.2f s", t.Workers, t.Time.Seconds())
		}
	}
	if wf.From != "" {
		n += fmt.Sprintf("; only the fastest depth on corpus %s in this run was timed", wf.From)
	}
	return n + fmt.Sprintf("; %.2f CPU-s)", wf.CPU.Seconds())
}
