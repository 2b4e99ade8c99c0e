package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// Goroutine counts the tree floors are measured with; the fastest pass of
// each kind is the floor. On the benchmark VM a cold pass over 150,000
// small files spends most of its time in the kernel (virtio requests,
// page-cache fills: 17-19 CPU-s for the read, 8-9 for the walk) and
// waiting for the disk, so the depth that hides the latency best is
// measured, not assumed (8 was, until issue 14 asked whether deeper
// queues are faster). One goroutine is tried for the walk in case a disk
// (a rotational one) prefers a single sequential stream.
var (
	floorWalkWorkers = []int{1, 8, 16, 32, 64}
	floorReadWorkers = []int{8, 16, 32, 64}
)

// treePass runs one pass over dir with a cold cache: a walk (list + lstat)
// or, with read, a read of every file; cpu is the process's CPU time in it.
type treePass func(dir string, workers int, read bool) (r ceiling.TreeResult, cpu time.Duration, err error)

// coldTreePass drops the page cache, then times ceiling.WalkTree or
// ceiling.ReadTree and the CPU time they take (selfCPU, after the drop:
// dropping the cache is itself CPU time of this process).
func coldTreePass(dir string, workers int, read bool) (ceiling.TreeResult, time.Duration, error) {
	dropCaches()
	c0 := selfCPU()
	var r ceiling.TreeResult
	var err error
	if read {
		r, err = ceiling.ReadTree(dir, workers)
	} else {
		r, err = ceiling.WalkTree(dir, workers)
	}
	return r, selfCPU() - c0, err
}

// measureFloors walks dir (lstat of every entry) and reads every file in
// it with a cold page cache: the metadata floor of a re-scan and the
// source-side floor of a cold backup, including the per-file costs the
// byte-rate ceiling leaves out. Each is timed with every goroutine count
// of floorWalkWorkers / floorReadWorkers and the fastest kept, with its
// CPU time (the kernel's share of a cold read is a CPU floor of its own:
// setColdBound); every pass is recorded in Tries.
func measureFloors(dir string) (floors, error) {
	return measureFloorsWith(dir, coldTreePass)
}

func measureFloorsWith(dir string, pass treePass) (floors, error) {
	f := floors{LoadBefore: loadavg()}
	for _, read := range []bool{false, true} {
		ws := floorWalkWorkers
		if read {
			ws = floorReadWorkers
		}
		for _, w := range ws {
			r, cpu, err := pass(dir, w, read)
			if err != nil {
				return f, err
			}
			f.Tries = append(f.Tries, floorTry{Read: read, Workers: w, Time: r.Time, CPU: cpu})
			if read {
				if f.Read == 0 || r.Time < f.Read {
					f.Read, f.ReadWorkers, f.ReadCPU = r.Time, w, cpu
				}
				continue
			}
			if f.Walk == 0 || r.Time < f.Walk {
				f.Walk, f.WalkWorkers, f.WalkCPU = r.Time, w, cpu
			}
			f.Dirs, f.Files = r.Dirs, r.Files
		}
	}
	f.LoadWhen = loadavg()
	return f, nil
}

// triesNote lists the passes of one kind: "8: 14.51 s, 16: 12.02 s, ...".
func (f floors) triesNote(read bool) string {
	var parts []string
	for _, t := range f.Tries {
		if t.Read == read {
			parts = append(parts, fmt.Sprintf("%d: %.2f s", t.Workers, t.Time.Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

// workersNote: "8 goroutines", with the passes tried when there were several.
func (f floors) workersNote(read bool) string {
	w, cpu := f.WalkWorkers, f.WalkCPU
	if read {
		w, cpu = f.ReadWorkers, f.ReadCPU
	}
	n := fmt.Sprintf("%d goroutines", w)
	if t := f.triesNote(read); strings.Contains(t, ",") {
		n += " (fastest of " + t + ")"
	}
	if cpu > 0 {
		n += fmt.Sprintf(", %.2f CPU-s", cpu.Seconds())
	}
	return n
}

func coresOf(rep *report) int {
	n := 0
	fmt.Sscan(rep.Machine["cores"], &n)
	if n == 0 {
		n = runtime.NumCPU()
	}
	return n
}

func durationFor(bytes int64, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(bytes) / rate * float64(time.Second))
}

// storedRatio is immich-vault's repository size over the input (1 for
// incompressible data; 0.5 when unknown).
func storedRatio(s *scenario) float64 {
	if v, ok := s.RepoSize["immich-vault"]; ok && s.Bytes > 0 {
		return min(1, float64(v)/float64(s.Bytes))
	}
	return 0.5
}

// setColdBound: the slower of the CPU pipeline limit (compressible for
// corpus D) and the disk: reading every file of the corpus (its measured
// cold read, or the ceiling's disk rate if that is slower) and then writing
// the stored bytes with fsync to the same device. The ceiling's disk read
// rate alone is measured on one just-written 1 GiB file, which a VM's host
// may still cache: 5.3 GB/s against 2.3 GB/s for the corpus's own files,
// which made the disk bound 1.8 s for a corpus whose read and fsync'd
// write alone take 2.35 s (issue 14).
func setColdBound(rep *report, s *scenario, name string, fl floors) {
	r := rep.Rates
	s.Bound = fl.Read
	s.BoundNote = "reading every file, cold cache, " + fl.workersNote(true)
	if r.Chunk == 0 {
		return
	}
	cores := coresOf(rep)
	var l ceiling.Limit
	what := "incompressible pipeline"
	ratio := 1.0
	if name == "D" {
		ratio = storedRatio(s)
		l = r.CompressibleLimit(cores, ratio, true)
		what = fmt.Sprintf("compressible pipeline at immich-vault's stored ratio %.2f (zstd rate of SQL text)", ratio)
	} else {
		l = r.PipelineLimit(cores, true)
	}
	cpu := durationFor(s.Bytes, l.CPU)
	// A cold read costs CPU beyond the pipeline's copy out of the page
	// cache (the kernel fills the cache: requests, interrupts, page
	// allocation), which on a VM with small files is most of its time:
	// the cores must also run the measured read's CPU time.
	if fl.ReadCPU > 0 {
		pipe := durationFor(s.Bytes, l.CPUPerCore).Seconds() - durationFor(s.Bytes, r.ReadCached).Seconds()
		cold := time.Duration((fl.ReadCPU.Seconds() + max(0, pipe)) / float64(cores) * float64(time.Second))
		if cold > cpu {
			cpu = cold
			what = fmt.Sprintf("%s plus the cold read's %.2f CPU-s", what, fl.ReadCPU.Seconds())
		}
	}
	read := max(fl.Read, durationFor(s.Bytes, r.ReadDisk))
	write := durationFor(int64(float64(s.Bytes)*ratio), r.WriteFsync)
	disk := read + write
	if r.WriteFsync <= 0 {
		disk = read
	}
	if cpu >= disk {
		s.Bound = cpu
		s.BoundNote = fmt.Sprintf("%s on %d cores: %.2f s (cpu-bound; pipeline %.0f MB/s; disk: read every file %.2f s + write with fsync %.2f s)", what, cores, cpu.Seconds(), l.CPU/1e6, read.Seconds(), write.Seconds())
		return
	}
	s.Bound = disk
	s.BoundNote = fmt.Sprintf("disk-bound: read every file %.2f s (cold cache, %s) + write the stored bytes with fsync %.2f s on the same device (cpu: %s on %d cores: %.2f s)", read.Seconds(), fl.workersNote(true), write.Seconds(), what, cores, cpu.Seconds())
}

// setRestoreBound: read the repository from disk, decrypt, check, write
// into the page cache (ceiling.RestoreLimit); for corpus D the repository
// read shrinks to the stored ratio (decompression not counted).
func setRestoreBound(rep *report, s *scenario, name string) {
	r := rep.Rates
	if r.Chunk == 0 {
		return
	}
	l := r.RestoreLimit(coresOf(rep), true)
	note := "restore limit"
	if name == "D" {
		ratio := storedRatio(s)
		l.IO /= ratio
		l.Bound, l.BoundBy = l.CPU, "cpu"
		if l.IO < l.CPU {
			l.Bound, l.BoundBy = l.IO, "disk"
		}
		note = fmt.Sprintf("restore limit with %.2f of the bytes read from the repository (decompression not counted)", ratio)
	}
	s.Bound = durationFor(s.Bytes, l.Bound)
	s.BoundNote = fmt.Sprintf("%s %.0f MB/s (%s-bound; per-file create costs not counted)", note, l.Bound/1e6, l.BoundBy)
}
