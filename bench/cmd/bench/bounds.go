package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
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
// of d (floorWalkWorkers / floorReadWorkers, or fewer: floorDepths) and
// the fastest kept, with its CPU time (the kernel's share of a cold read
// is a CPU floor of its own: setColdBound); every pass is recorded in
// Tries.
func measureFloors(dir string, d depths) (floors, error) {
	return measureFloorsWith(dir, coldTreePass, d)
}

// depths are the goroutine counts measureFloors times; From names the
// corpus whose fastest depths they are ("": all of them).
type depths struct {
	Walk, Read []int
	From       string
}

// allDepths: every goroutine count of floorWalkWorkers / floorReadWorkers.
func allDepths() depths { return depths{Walk: floorWalkWorkers, Read: floorReadWorkers} }

// floorKeep is how many depths of each kind the large corpus times.
const floorKeep = 2

// floorDepths: the depths to time on corpus name. Every pass over the
// large corpus costs ~3.3 times one over B150k (500,000 files: ~25 s a
// walk, ~55 s a read), so all nine depths and two warm-ups would take ~8
// minutes. On the large corpus (big), when corpus B (the same kind of
// tree, 50,000 files) was measured earlier in this run, only the floorKeep
// fastest depths of each kind there are timed. At 150,000 files the
// fastest depths were within 2-6 % of the next ones (walk: 64: 6.75 s,
// 8: 7.10, 16: 7.26; read: 16: 15.82, 8: 15.86, 32: 16.13), so the two
// fastest of B keep the floor honest where one might pick a depth
// that the larger tree no longer favours; the bound's note says which
// depths were timed and why.
func floorDepths(rep *report, name, big string) depths {
	b, ok := rep.Floors["B"]
	if name != big || !ok || len(b.Tries) == 0 {
		return allDepths()
	}
	d := depths{Walk: fastestDepths(b.Tries, false, floorKeep), Read: fastestDepths(b.Tries, true, floorKeep), From: "B"}
	if len(d.Walk) == 0 || len(d.Read) == 0 {
		return allDepths()
	}
	return d
}

// fastestDepths returns the goroutine counts of the n fastest tries of
// one kind, in increasing goroutine count.
func fastestDepths(tries []floorTry, read bool, n int) []int {
	var ts []floorTry
	for _, t := range tries {
		if t.Read == read {
			ts = append(ts, t)
		}
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Time < ts[j].Time })
	var ws []int
	for _, t := range ts {
		if len(ws) < n && !slices.Contains(ws, t.Workers) {
			ws = append(ws, t.Workers)
		}
	}
	sort.Ints(ws)
	return ws
}

func measureFloorsWith(dir string, pass treePass, d depths) (floors, error) {
	f := floors{LoadBefore: loadavg(), DepthsFrom: d.From}
	for _, read := range []bool{false, true} {
		ws := d.Walk
		if read {
			ws = d.Read
		}
		// One untimed pass first: the guest's cache is dropped before
		// every pass, but a VM's host keeps caching the disk, so the
		// first pass read it from the device and later ones partly from
		// the host (corpus A, 14:42 run: 8 goroutines 0.99 s first, then
		// 0.38-0.69 s). After this pass every timed depth sees the same
		// host cache as the tools' runs, which all come after it.
		if _, _, err := pass(dir, ws[len(ws)-1], read); err != nil {
			return f, err
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

// depthsFromNote says where the depths timed came from (floorDepths).
func depthsFromNote(from string) string {
	if from == "" {
		return ""
	}
	return fmt.Sprintf("; only the %d fastest depths on corpus %s in this run were timed", floorKeep, from)
}

// workersNote: "8 goroutines", with the passes tried when there were several.
func (f floors) workersNote(read bool) string {
	w, cpu := f.WalkWorkers, f.WalkCPU
	if read {
		w, cpu = f.ReadWorkers, f.ReadCPU
	}
	n := fmt.Sprintf("%d goroutines", w)
	if t := f.triesNote(read); strings.Contains(t, ",") {
		n += " (fastest of " + t + depthsFromNote(f.DepthsFrom) + ")"
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
// corpus D, at the zstd rate of D's own chunks when rep.Compress has it)
// and the disk: reading every file of the corpus (its measured cold read;
// the ceiling's disk rate only when the corpus was not read) and then
// writing the stored bytes with fsync to the same device.
//
// The ceiling's disk read rate is one goroutine reading one 1 GiB file,
// which says nothing certain about the corpus read: a VM's host may still
// cache the file (5.3 GB/s against 2.3 GB/s for the corpus's own files,
// which made the disk bound 1.8 s for a corpus whose read and fsync'd
// write alone take 2.35 s, issue 14), or one goroutine may reach a fraction
// of what 32 reach (648-784 MB/s against 2.0 GB/s in the 2026-12-07 06:03
// run). Until then the slower of the two was used, which made the bound
// slower than the backup it bounds (cold A at 124 % of it).
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
		// The corpus's own chunks, when measured: D is a mix of text,
		// binaries and media that compress at their own rates (media
		// not at all), and SQL text in the ceiling's 64 KiB pieces is
		// the slowest of them (issue 14).
		if cr, ok := rep.Compress[name]; ok && cr.Time > 0 {
			rd := r
			rd.Compress = cr.Rate()
			l = rd.CompressibleLimit(cores, ratio, true)
			what = fmt.Sprintf("compressible pipeline at immich-vault's stored ratio %.2f (zstd rate of the corpus's own chunks: %.0f MB/s per core)", ratio, cr.Rate()/1e6)
		}
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
	read := fl.Read
	if read <= 0 {
		read = durationFor(s.Bytes, r.ReadDisk)
	}
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

// repoRead is the measured cold read of a repository's pack files.
type repoRead struct {
	Time    time.Duration
	Bytes   int64
	Workers int
	CPU     time.Duration // the process's CPU time in the fastest pass
	Tries   []floorTry    // every timed pass
	From    string        // "": every depth of repoReadWorkers; else as floors.DepthsFrom
}

// repoReadWorkers are the goroutine counts measureRepoRead tries.
var repoReadWorkers = []int{4, 8, 16}

// repoReadDepths: every count of repoReadWorkers, or on the large corpus
// (big) the floorKeep fastest on corpus B's repository in this run, as
// floorDepths does for the tree floors.
func repoReadDepths(rep *report, name, big string) ([]int, string) {
	b, ok := rep.RepoReads["B"]
	if name != big || !ok {
		return repoReadWorkers, ""
	}
	if ws := fastestDepths(b.Tries, true, floorKeep); len(ws) > 0 {
		return ws, "B"
	}
	return repoReadWorkers, ""
}

// measureRepoRead reads every file under a local repository's data
// directory (its pack files) after dropping the page cache, with each
// goroutine count of ws, and keeps the fastest with its CPU time: the disk
// side of a restore with a cold cache. The ceiling's disk read rate comes
// from one just-written 1 GiB file that a VM's host may still cache
// (5.3 GB/s here, against 1.9-2.3 GB/s for a repository of corpus A's
// 2 GiB).
func measureRepoRead(repo string, ws []int, from string) (repoRead, error) {
	return measureRepoReadWith(repo, coldTreePass, ws, from)
}

func measureRepoReadWith(repo string, pass treePass, ws []int, from string) (repoRead, error) {
	best := repoRead{From: from}
	data := filepath.Join(repo, "data")
	// One untimed pass first, as in measureFloorsWith: every timed depth
	// then sees the same VM-host cache.
	if _, _, err := pass(data, ws[len(ws)-1], true); err != nil {
		return best, err
	}
	for _, w := range ws {
		r, cpu, err := pass(data, w, true)
		if err != nil {
			return best, err
		}
		best.Tries = append(best.Tries, floorTry{Read: true, Workers: w, Time: r.Time, CPU: cpu})
		if best.Time == 0 || r.Time < best.Time {
			best.Time, best.Bytes, best.Workers, best.CPU = r.Time, r.Bytes, w, cpu
		}
	}
	return best, nil
}

// setRestoreBound: the slower of the CPU (read, decrypt, check and write
// into the page cache: ceiling.RestoreLimit's CPU; for corpus D only the
// stored fraction is read and decrypted, decompression not counted) and the
// disk: the repository's pack files read with a cold cache (rr, measured by
// measureRepoRead; the ceiling's disk rate only if rr is missing: see
// setColdBound for why the slower of the two is not a bound). No fsync: immich-vault's restore (like restic's and kopia's)
// leaves the restored files to the kernel's writeback, so writing them is
// a page-cache copy on the CPU side.
func setRestoreBound(rep *report, s *scenario, name string, rr repoRead, wf writeFloor) {
	r := rep.Rates
	if r.Chunk == 0 {
		return
	}
	cores := coresOf(rep)
	l := r.RestoreLimit(cores, true)
	cpuNote := "restore pipeline"
	stored := s.Bytes
	if name == "D" {
		ratio := storedRatio(s)
		stored = int64(float64(s.Bytes) * ratio)
		cpuNote = fmt.Sprintf("restore pipeline with %.2f of the bytes read from the repository (decompression not counted)", ratio)
	}
	cpu := durationFor(s.Bytes, l.CPU)
	// As in setColdBound: reading the repository with a cold cache costs
	// the kernel CPU beyond the pipeline's copy out of the page cache
	// (requests, interrupts, page allocation), and creating and writing
	// the files costs it beyond the copy into the page cache (the write
	// floor's CPU: inodes, directory entries, page allocation). Every tool
	// pays both on the same cores, with the decryption and the hash check.
	if rr.CPU > 0 || wf.CPU > 0 {
		readCPU, writeCPU := rr.CPU.Seconds(), wf.CPU.Seconds()
		var measured []string
		if rr.CPU > 0 {
			measured = append(measured, fmt.Sprintf("the repository's cold read's %.2f CPU-s", readCPU))
		} else {
			readCPU = durationFor(stored, r.ReadCached).Seconds()
		}
		if wf.CPU > 0 {
			measured = append(measured, fmt.Sprintf("the write floor's %.2f CPU-s", writeCPU))
		} else {
			writeCPU = durationFor(s.Bytes, r.WriteCached).Seconds()
		}
		crypt := durationFor(s.Bytes, r.Encrypt).Seconds() + durationFor(s.Bytes, r.Hash).Seconds()
		all := time.Duration((readCPU + crypt + writeCPU) / float64(cores) * float64(time.Second))
		if all > cpu {
			cpu = all
			cpuNote = fmt.Sprintf("decrypt and hash check plus %s", strings.Join(measured, " and "))
		}
	}
	read := durationFor(stored, r.ReadDisk)
	readNote := fmt.Sprintf("the ceiling's disk rate %.0f MB/s", r.ReadDisk/1e6)
	if rr.Time > 0 {
		read = rr.Time
		readNote = fmt.Sprintf("cold cache, %d goroutines%s, %.0f MiB", rr.Workers, depthsFromNote(rr.From), float64(rr.Bytes)/(1<<20))
	}
	writeNote := "per-file create costs not counted"
	if wf.Time > 0 {
		writeNote = "create and write every file: " + wf.note()
	}
	switch {
	case wf.Time > cpu && wf.Time > read:
		s.Bound = wf.Time
		s.BoundNote = fmt.Sprintf("file-bound: create and write every file of the corpus, no fsync, %s (%s on %d cores %.2f s; read the repository's pack files %.2f s, %s)", wf.note(), cpuNote, cores, cpu.Seconds(), read.Seconds(), readNote)
	case cpu >= read:
		s.Bound = cpu
		s.BoundNote = fmt.Sprintf("%s on %d cores: %.2f s, pipeline %.0f MB/s (cpu-bound; disk: read the repository's pack files %.2f s, %s; %s)", cpuNote, cores, cpu.Seconds(), l.CPU/1e6, read.Seconds(), readNote, writeNote)
	default:
		s.Bound = read
		s.BoundNote = fmt.Sprintf("disk-bound: read the repository's pack files %.2f s (%s; %s on %d cores %.2f s; %s)", read.Seconds(), readNote, cpuNote, cores, cpu.Seconds(), writeNote)
	}
}
