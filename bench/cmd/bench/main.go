// Command bench runs the macro benchmark suite: it generates the corpora of
// bench/corpus, runs immich-vault (built from this tree) and every peer
// found on PATH (restic, borg, kopia) on the same corpus in the same run,
// interleaved and repeated, measures the machine's ceiling, and writes the
// report into BENCHMARKS.md (between the bench:begin/end markers; the rest
// of the file is kept). See `go run ./bench/cmd/bench -h`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
	"github.com/immich-vault/immich-vault/bench/corpus"
	"github.com/immich-vault/immich-vault/internal/gomaxprocs"
)

type config struct {
	Work       string
	ASize      int64
	BFiles     int
	CDays      int
	CRows      int
	Reps       int
	Blobs      []int
	Seed       uint64
	Out        string
	Only       string
	NoPeers    bool
	KeepWork   bool
	CommandStr string
	MicroTime  string
	Label      string
	DSize      int64           // corpus D (compressible)
	BBig       int             // files of the large corpus B (0: skip)
	BBigReps   int             // its repetitions
	DiskFree   int64           // -disk-free: at most this much free space is assumed (0: measured)
	BBigPeers  string          // -b-big-peers: the peers run on the large corpus B ("": every one found)
	S3Size     int64           // corpus of the S3 scenarios
	S3RTTs     []time.Duration // round trips the proxy adds
	S3Rate     float64         // bytes/s each way
	S3Window   int             // bytes in flight per connection
	S3Conns    int
	S3Reps     int
	S3Limit    time.Duration // longest a tool's command may take in the S3 scenarios
	S3DumpSize int64         // database dump backed up via stdin and restored (0: skip)
	S3BigFile  int64         // one large file backed up and restored (0: skip)
	S3BigRTT   time.Duration // the RTT of the dump and large-file scenarios
}

// result of one scenario: per tool, one measurement per repetition.
type scenario struct {
	Key      string
	Title    string
	Bytes    int64 // input bytes (for MB/s)
	Files    int
	Runs     map[string][]measurement
	RepoSize map[string]int64
	Note     string
	// Bound is the shortest time this machine allows for the scenario
	// (see BoundNote for how it is derived); 0: no bound.
	Bound     time.Duration
	BoundNote string
	Load      string // load averages when the scenario started
}

type dbSeries struct {
	Days     int
	DayBytes []int64
	Size     map[string][]int64 // repository size after each day
	Wall     map[string][]time.Duration
}

type bigIndex struct {
	Blobs      int
	IndexFiles int
	FillTime   time.Duration
	Cold       measurement // first backup: the local cache is built from 10 M entries
	Warm       measurement // second backup, cache present
}

type report struct {
	Config     config
	Start, End time.Time
	LoadBefore string
	LoadAfter  string
	Machine    map[string]string
	DropCaches bool
	Tools      []toolInfo
	Absent     []string
	Rates      ceiling.Rates
	Scenarios  []*scenario
	DB         *dbSeries
	Big        []bigIndex
	Profiles   []profile
	Micro      string
	Errors     []string
	S3         []*s3Link
	Floors     map[string]floors // per corpus name
	// Compress: per corpus name, the zstd rate of the corpus's own chunks
	// (ceiling.CompressTree), which the compressible bound uses.
	Compress map[string]ceiling.CompressResult `json:",omitempty"`
	// DiskPlans: per corpus of filesScenarios, what planDisk decided
	// (which tools ran, which did not fit) and the lowest free space seen.
	DiskPlans []*diskPlan `json:",omitempty"`
	// RepoReads: per corpus name, the cold read of immich-vault's
	// repository (the restore bound's disk side).
	RepoReads map[string]repoRead `json:",omitempty"`
	// WriteFloors: per corpus name, the restore's write floor
	// (bounds_write.go).
	WriteFloors map[string]writeFloor `json:",omitempty"`
	// Rerendered: what each -rerender of the run's figures changed
	// (rerender.go); empty for a report as the run wrote it.
	Rerendered []string `json:",omitempty"`
}

// floors are a corpus's measured tree passes with a cold page cache.
type floors struct {
	Walk, Read           time.Duration // fastest of the goroutine counts tried (bounds.go)
	WalkWorkers          int           // the goroutine count of the best walk
	ReadWorkers          int
	WalkCPU, ReadCPU     time.Duration // CPU time (user+system) of the kept passes
	Tries                []floorTry    // every pass, in order
	DepthsFrom           string        // "": every depth timed; else the corpus whose fastest depths were (floorDepths)
	Dirs, Files          int
	LoadBefore, LoadWhen string
}

// floorTry is one timed pass of measureFloors.
type floorTry struct {
	Read      bool // a read of every file (else list + lstat)
	Workers   int
	Time, CPU time.Duration
}

// profile is immich-vault's CPU profile (pprof -top) of one scenario.
type profile struct {
	Title     string
	Top       string
	MaxGoHeap int64 // largest live heap in the GC trace, bytes
}

type toolInfo struct{ Name, Version, Settings string }

func main() {
	if len(os.Args) > 2 && os.Args[1] == wrapFlag {
		wrapMain()
	}
	// The floors (walk, read, write, repository read) are measured by
	// goroutines of this process: with as many processors as immich-vault
	// runs with (gomaxprocs.Set says why).
	gomaxprocs.Set()
	var c config
	var aSize, blobs string
	flag.StringVar(&c.Work, "work", "/var/tmp/immich-vault-bench", "scratch `directory` for corpora, repositories and restores, on the disk to measure (removed at the end unless -keep)")
	flag.StringVar(&c.MicroTime, "micro-benchtime", "1s", "-benchtime of the Go micro-benchmarks (chunker, crypto, pack, index); empty: skip them")
	flag.StringVar(&aSize, "a-size", "2GiB", "size of corpus A (photo library)")
	flag.IntVar(&c.BFiles, "b-files", 50000, "files in corpus B (thumbnails)")
	flag.IntVar(&c.CDays, "c-days", 10, "days in corpus C (SQL dumps)")
	flag.IntVar(&c.CRows, "c-rows", 10000, "assets in corpus C's database on day 1")
	flag.IntVar(&c.Reps, "reps", 3, "repetitions of each timed scenario (medians are reported)")
	flag.StringVar(&blobs, "blobs", "1000000,10000000", "comma-separated blob counts for the big-index memory scenario (empty: skip)")
	var scale, rerender string
	flag.StringVar(&rerender, "rerender", "", "`file` of a run's raw figures (BENCHMARKS.json): recompute its bounds with this driver's rules and rewrite -out from it, running nothing (rerender.go)")
	flag.StringVar(&scale, "scale", "", "comma-separated blob counts: run only the scale scenario of the maintenance commands (scale.go) and print its table")
	var files, filesFlat int
	flag.IntVar(&files, "files", 0, "run only the files scenario (files.go): backup, restore, copy... of this many files in directories of 1,000, and print its table")
	flag.IntVar(&filesFlat, "files-flat", 0, "with -files: also one flat directory of this many entries")
	flag.Uint64Var(&c.Seed, "seed", 1, "corpus seed")
	flag.StringVar(&c.Out, "out", "BENCHMARKS.md", "report `file` (the part between the bench markers is replaced)")
	flag.StringVar(&c.Only, "only", "", "comma-separated scenario groups to run: ceiling,A,B,Bbig,D,C,S3,big,micro (default all)")
	flag.BoolVar(&c.NoPeers, "no-peers", false, "run immich-vault only")
	flag.BoolVar(&c.KeepWork, "keep", false, "keep the work directory")
	var dSize, s3Size, s3RTTs, s3Dump, s3Big, diskFree string
	flag.StringVar(&diskFree, "disk-free", "0", "plan each corpus's disk use as if at most this much were free in the work directory (tries the disk plan's peer dropping, diskplan.go); 0: the measured free space")
	flag.StringVar(&dSize, "d-size", "768MiB", "size of corpus D (compressible /usr-like mix with dumps)")
	flag.IntVar(&c.BBig, "b-big", 250000, "files of the large corpus B in Immich's thumbs fan-out (0: skip)")
	flag.IntVar(&c.BBigReps, "b-big-reps", 1, "repetitions of the large corpus B's scenarios")
	flag.StringVar(&c.BBigPeers, "b-big-peers", "", "comma-separated peers to run on the large corpus B, e.g. restic (issue 14's targets compare with restic; kopia takes ~11 of the ~56 minutes at -b-big 500000); empty: every peer found; the report names those left out")
	flag.StringVar(&s3Size, "s3-size", "256MiB", "size of the S3 scenarios' corpus (corpus A mix)")
	flag.StringVar(&s3RTTs, "s3-rtt", "20ms,80ms", "comma-separated round-trip times the S3 shaping proxy adds")
	var s3Mbit float64
	flag.Float64Var(&s3Mbit, "s3-mbit", 400, "bandwidth of the shaped S3 link each way, Mbit/s (shared by all connections)")
	flag.IntVar(&c.S3Window, "s3-window", 4<<20, "bytes one connection may have in flight each way on the shaped link (a TCP window)")
	flag.IntVar(&c.S3Conns, "s3-connections", 8, "parallel S3 connections of every tool and of the raw PUT/GET bound")
	flag.IntVar(&c.S3Reps, "s3-reps", 1, "repetitions of the S3 scenarios")
	flag.StringVar(&s3Dump, "s3-dump-size", "1GiB", "size of the database dump the S3 scenario backs up through stdin and restores (0: skip)")
	flag.StringVar(&s3Big, "s3-big-file", "1GiB", "size of the single file the S3 scenario backs up and restores (0: skip; 4GiB takes ~86 s a direction per tool at 400 Mbit/s)")
	flag.DurationVar(&c.S3BigRTT, "s3-big-rtt", 80*time.Millisecond, "the one -s3-rtt at which the dump and single-file S3 scenarios run")
	flag.DurationVar(&c.S3Limit, "s3-limit", 5*time.Minute, "longest one command may take in the S3 scenarios (then it is killed and reported)")
	flag.Parse()
	c.S3Rate = s3Mbit * 1e6 / 8
	for _, x := range []struct {
		s string
		v *int64
	}{{dSize, &c.DSize}, {s3Size, &c.S3Size}, {s3Dump, &c.S3DumpSize}, {s3Big, &c.S3BigFile}, {diskFree, &c.DiskFree}} {
		n, err := corpus.ParseSize(x.s)
		if err != nil {
			fatal(err)
		}
		*x.v = n
	}
	for _, x := range strings.Split(s3RTTs, ",") {
		if x = strings.TrimSpace(x); x == "" {
			continue
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			fatal(fmt.Errorf("-s3-rtt: %w", err))
		}
		c.S3RTTs = append(c.S3RTTs, d)
	}
	var err error
	if c.ASize, err = corpus.ParseSize(aSize); err != nil {
		fatal(err)
	}
	for _, s := range strings.Split(blobs, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := corpus.ParseSize(s)
		if err != nil {
			fatal(err)
		}
		c.Blobs = append(c.Blobs, int(n))
	}
	if files > 0 {
		if c.Work, err = filepath.Abs(c.Work); err != nil {
			fatal(err)
		}
		if err := filesMain(c, files, filesFlat); err != nil {
			fatal(err)
		}
		return
	}
	if rerender != "" {
		if err := rerenderMain(rerender, c.Out); err != nil {
			fatal(err)
		}
		return
	}
	if scale != "" {
		var sizes []int
		for _, s := range strings.Split(scale, ",") {
			n, err := corpus.ParseSize(strings.TrimSpace(s))
			if err != nil {
				fatal(err)
			}
			sizes = append(sizes, int(n))
		}
		if c.Work, err = filepath.Abs(c.Work); err != nil {
			fatal(err)
		}
		if err := scaleMain(c, sizes); err != nil {
			fatal(err)
		}
		return
	}
	c.CommandStr = "go run ./bench/cmd/bench " + strings.Join(os.Args[1:], " ")
	c.Label = os.Getenv("BENCH_COMMAND") // set by `make bench`
	if c.Work, err = filepath.Abs(c.Work); err != nil {
		fatal(err)
	}
	rep, err := runAll(c)
	if rep != nil {
		if werr := writeReport(c.Out, rep); werr != nil {
			fatal(werr)
		}
		js, _ := json.MarshalIndent(rep, "", "  ")
		_ = os.WriteFile(strings.TrimSuffix(c.Out, ".md")+".json", js, 0o644)
		logf("report written to %s", c.Out)
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func logf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(f, a...))
}

func want(c config, group string) bool {
	if c.Only == "" {
		return true
	}
	for _, g := range strings.Split(c.Only, ",") {
		if strings.EqualFold(strings.TrimSpace(g), group) {
			return true
		}
	}
	return false
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func runAll(c config) (*report, error) {
	rep := &report{Config: c, Start: time.Now(), LoadBefore: loadavg(), Machine: machineInfo(c.Work), Floors: map[string]floors{}, RepoReads: map[string]repoRead{}, WriteFloors: map[string]writeFloor{}}
	if err := os.MkdirAll(c.Work, 0o755); err != nil {
		return nil, err
	}
	if !c.KeepWork {
		defer os.RemoveAll(c.Work)
	}
	rep.DropCaches = dropCaches()
	logf("load average before: %s; page cache drop: %v", rep.LoadBefore, rep.DropCaches)

	bin := filepath.Join(c.Work, "bin", "immich-vault")
	logf("building immich-vault")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/immich-vault").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build immich-vault: %v\n%s", err, out)
	}
	tools := []tool{&vault{bin: bin}}
	if !c.NoPeers {
		for _, p := range []struct {
			name string
			mk   func(string) tool
		}{
			{"restic", func(b string) tool { return &restic{bin: b} }},
			{"borg", func(b string) tool { return &borg{bin: b} }},
			{"kopia", func(b string) tool { return &kopia{bin: b} }},
		} {
			if b, err := exec.LookPath(p.name); err == nil {
				tools = append(tools, p.mk(b))
			} else {
				rep.Absent = append(rep.Absent, p.name)
			}
		}
	}
	for _, t := range tools {
		rep.Tools = append(rep.Tools, toolInfo{t.Name(), t.Version(), t.Settings()})
	}
	finish := func(err error) (*report, error) {
		rep.End = time.Now()
		rep.LoadAfter = loadavg()
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		}
		return rep, err
	}

	// checkBig: whether the large corpus B fits, before it is generated
	// ("" when it does or the free space is unknown), logged at the start
	// (what to expect) and decided before the corpus is generated.
	checkBig := func() string {
		free, ok := workFree(c, bigBName(c))
		if !ok {
			return ""
		}
		var names []string
		for _, t := range tools {
			names = append(names, t.Name())
		}
		why := precheckBigB(bigBName(c), c.BBig, c.BBigReps, free, names)
		if why != "" {
			logf("%s", why)
		}
		return why
	}
	if want(c, "Bbig") && c.BBig > 0 {
		checkBig() // at the start: what the run will do, in the first minute
	}
	if want(c, "ceiling") {
		logf("measuring the machine's ceiling (single core)")
		var sample []byte
		cdir := filepath.Join(c.Work, "ceiling")
		if _, err := corpus.GenerateC(cdir, 1, 10000, c.Seed); err == nil {
			sample, _ = os.ReadFile(filepath.Join(cdir, corpus.DayName(1)))
		}
		r, err := ceiling.Measure(ceiling.Options{Dir: c.Work, Compessible: sample, DropCaches: dropCaches, Log: func(s string) { logf("ceiling: %s", s) }})
		os.RemoveAll(cdir)
		if err != nil {
			return finish(fmt.Errorf("ceiling: %w", err))
		}
		rep.Rates = r
	}

	if want(c, "A") {
		dir := filepath.Join(c.Work, "corpusA")
		logf("generating corpus A (%d bytes)", c.ASize)
		st, err := corpus.GenerateA(dir, c.ASize, c.Seed)
		if err != nil {
			return finish(fmt.Errorf("corpus A: %w", err))
		}
		// The corpus stays for the profile run after the scenarios.
		if err := filesScenarios(c, rep, tools, "A", dir, st, true, true, c.Reps); err != nil {
			return finish(err)
		}
		if p, err := newRepo(c, tools[0], "profile"); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		} else {
			if _, err := profileRun(c, rep, tools[0], p, dir, "cold backup of A"); err != nil {
				rep.Errors = append(rep.Errors, err.Error())
			}
			removeRepo(p)
		}
		os.RemoveAll(dir)
	}
	if want(c, "B") {
		dir := filepath.Join(c.Work, "corpusB")
		logf("generating corpus B (%d files)", c.BFiles)
		st, err := corpus.GenerateB(dir, c.BFiles, c.Seed)
		if err != nil {
			return finish(fmt.Errorf("corpus B: %w", err))
		}
		if err := filesScenarios(c, rep, tools, "B", dir, st, false, false, c.Reps); err != nil {
			return finish(err)
		}
		os.RemoveAll(dir)
	}
	if want(c, "Bbig") && c.BBig > 0 {
		if why := checkBig(); why != "" {
			rep.Errors = append(rep.Errors, why)
		} else {
			dir := filepath.Join(c.Work, "corpusBbig")
			logf("generating the large corpus B (%d files)", c.BBig)
			st, err := corpus.GenerateB(dir, c.BBig, c.Seed)
			if err != nil {
				return finish(fmt.Errorf("large corpus B: %w", err))
			}
			if err := filesScenarios(c, rep, tools, bigBName(c), dir, st, false, false, c.BBigReps); err != nil {
				return finish(err)
			}
			os.RemoveAll(dir)
		}
	}
	if want(c, "D") && c.DSize > 0 {
		dir := filepath.Join(c.Work, "corpusD")
		logf("generating corpus D (%d bytes, compressible)", c.DSize)
		st, err := corpus.GenerateD(dir, c.DSize, c.Seed)
		if err != nil {
			return finish(fmt.Errorf("corpus D: %w", err))
		}
		if cr, err := ceiling.CompressTree(dir, nil, 3); err != nil {
			logf("corpus D: compression rate: %v (the bound uses the ceiling's SQL text rate)", err)
		} else {
			rep.Compress = map[string]ceiling.CompressResult{"D": cr}
			logf("corpus D: zstd %.0f MB/s per core on its own chunks (%.0f of %.0f MB compressed, ratio %.3f)", cr.Rate()/1e6, float64(cr.Compressed)/1e6, float64(cr.Bytes)/1e6, cr.Ratio())
		}
		if err := filesScenarios(c, rep, tools, "D", dir, st, false, true, c.Reps); err != nil {
			return finish(err)
		}
		if p, err := newRepo(c, tools[0], "profileD"); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		} else {
			if _, err := profileRun(c, rep, tools[0], p, dir, "cold backup of D (compressible)"); err != nil {
				rep.Errors = append(rep.Errors, err.Error())
			}
			removeRepo(p)
		}
		os.RemoveAll(dir)
	}
	if want(c, "C") {
		if err := dbScenario(c, rep, tools); err != nil {
			return finish(err)
		}
	}
	if want(c, "S3") && len(c.S3RTTs) > 0 {
		if err := s3Scenarios(c, rep, tools); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			logf("S3: %v", err)
		}
	}
	if want(c, "big") {
		for _, n := range c.Blobs {
			if err := bigScenario(c, rep, tools[0], n); err != nil {
				return finish(err)
			}
		}
	}
	if want(c, "micro") && c.MicroTime != "" {
		logf("Go micro-benchmarks")
		out, err := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", c.MicroTime,
			"./chunker", "./crypto", "./pack", "./index", "./internal/netdelay").CombinedOutput()
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("micro-benchmarks: %v: %s", err, tail(string(out), 500)))
		}
		var keep []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "ok") || strings.HasPrefix(l, "pkg:") {
				keep = append(keep, l)
			}
		}
		rep.Micro = strings.Join(keep, "\n") + "\n"
	}
	return finish(nil)
}

// order returns the tools rotated by rep, so no tool always runs first.
func order(tools []tool, rep int) []tool {
	k := rep % len(tools)
	return append(append([]tool{}, tools[k:]...), tools[:k]...)
}

func repoPath(c config, t tool, what string) string {
	return filepath.Join(c.Work, "repos", t.Name()+"-"+what)
}

func newRepo(c config, t tool, what string) (string, error) {
	p := repoPath(c, t, what)
	os.RemoveAll(p)
	os.RemoveAll(p + ".cache")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	if t.Name() == "borg" || t.Name() == "kopia" {
		if err := os.MkdirAll(p+".cache", 0o755); err != nil {
			return "", err
		}
	}
	if err := t.Init(p); err != nil {
		return "", fmt.Errorf("%s init: %w", t.Name(), err)
	}
	return p, nil
}

func removeRepo(p string) {
	os.RemoveAll(p)
	os.RemoveAll(p + ".cache")
}

func newScenario(rep *report, key, title string, st corpus.Stats) *scenario {
	s := &scenario{Key: key, Title: title, Bytes: st.Bytes, Files: st.Files, Runs: map[string][]measurement{}, RepoSize: map[string]int64{}, Load: loadavg()}
	rep.Scenarios = append(rep.Scenarios, s)
	return s
}

// bigBName is the large corpus B's name in scenario keys and titles.
func bigBName(c config) string { return fmt.Sprintf("B%dk", c.BBig/1000) }

// filesScenarios runs cold backup, no-change re-scan, (moved,) restore,
// reps times each, and sets each scenario's bound from the ceiling
// (rep.Rates) and the corpus's measured tree floors. Before them,
// planDisk decides which tools fit on the disk (diskplan.go); the corpus
// is removed before the restores unless keepCorpus (the caller's profile
// run needs it), and each tool's repository after its last restore.
func filesScenarios(c config, rep *report, tools []tool, name, dir string, st corpus.Stats, moved, keepCorpus bool, reps int) error {
	logf("corpus %s: %d files, %.1f MiB", name, st.Files, float64(st.Bytes)/(1<<20))
	plan, tools, err := planCorpusDisk(c, rep, tools, name, dir, st, keepCorpus, reps)
	if err != nil {
		return err
	}
	if !plan.Fits {
		rep.Errors = append(rep.Errors, plan.summary())
		return nil
	}
	noteFree := func() {
		if f, ok := freeSpace(c.Work); ok && (plan.LowestFree < 0 || f < plan.LowestFree) {
			plan.LowestFree = f
		}
	}
	d := floorDepths(rep, name, bigBName(c))
	if d.From != "" {
		logf("corpus %s floors: timing only the depths fastest on corpus %s in this run: walk %v, read %v", name, d.From, d.Walk, d.Read)
	}
	fl, err := measureFloors(dir, d)
	if err != nil {
		return err
	}
	rep.Floors[name] = fl
	logf("corpus %s floors (cold cache): walk+lstat %.2fs (%d goroutines), read every file %.2fs (%d goroutines)", name, fl.Walk.Seconds(), fl.WalkWorkers, fl.Read.Seconds(), fl.ReadWorkers)
	cold := newScenario(rep, "cold"+name, "Cold backup of corpus "+name, st)
	repos := map[string]string{}
	for r := 0; r < reps; r++ {
		for _, t := range order(tools, r) {
			p, err := newRepo(c, t, name)
			if err != nil {
				return err
			}
			dropCaches()
			m, err := t.Backup(p, dir)
			if err != nil {
				return fmt.Errorf("cold backup %s with %s: %w", name, t.Name(), err)
			}
			cold.Runs[t.Name()] = append(cold.Runs[t.Name()], m)
			size, _, err := treeBytes(p)
			if err != nil {
				return err
			}
			cold.RepoSize[t.Name()] = size
			repos[t.Name()] = p
			noteFree()
			logf("cold %s %-12s rep %d: %6.2fs cpu %6.2fs rss %4d MiB repo %d MiB", name, t.Name(), r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20, size>>20)
		}
	}
	logRepoDisk(name, repos, plan)
	// The last repetition's repositories stay for the following scenarios.
	setColdBound(rep, cold, name, fl)
	rescan := newScenario(rep, "rescan"+name, "No-change re-scan of corpus "+name, st)
	rescan.Bound = fl.Walk
	rescan.BoundNote = "list every directory and lstat every entry, cold cache, " + fl.workersNote(false)
	if p, ok := repos["immich-vault"]; ok {
		rescan.Note = preflightNote(dir, p)
	}
	for r := 0; r < reps; r++ {
		for _, t := range order(tools, r) {
			dropCaches()
			m, err := t.Backup(repos[t.Name()], dir)
			if err != nil {
				return fmt.Errorf("re-scan %s with %s: %w", name, t.Name(), err)
			}
			rescan.Runs[t.Name()] = append(rescan.Runs[t.Name()], m)
			logf("rescan %s %-12s rep %d: %6.2fs cpu %6.2fs rss %4d MiB", name, t.Name(), r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20)
		}
	}
	if strings.HasPrefix(name, "B") {
		if _, err := profileRun(c, rep, tools[0], repos[tools[0].Name()], dir, "no-change re-scan of "+name); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		}
	}
	if moved {
		mv := newScenario(rep, "moved"+name, "Re-scan of corpus "+name+" after every file moved to a new directory", st)
		mv.Note = "each repetition renames every file into a fresh directory tree (inode, size and mtime kept; ctime changes, as with mv)"
		mv.Bound, mv.BoundNote = rescan.Bound, rescan.BoundNote
		from := "library"
		for r := 0; r < reps; r++ {
			to := fmt.Sprintf("moved%d", r+1)
			if err := moveAll(dir, from, to); err != nil {
				return fmt.Errorf("move files: %w", err)
			}
			from = to
			for _, t := range order(tools, r) {
				dropCaches()
				m, err := t.Backup(repos[t.Name()], dir)
				if err != nil {
					return fmt.Errorf("moved re-scan %s with %s: %w", name, t.Name(), err)
				}
				mv.Runs[t.Name()] = append(mv.Runs[t.Name()], m)
				size, _, _ := treeBytes(repos[t.Name()])
				mv.RepoSize[t.Name()] = size
				logf("moved %s %-12s rep %d: %6.2fs cpu %6.2fs rss %4d MiB repo %d MiB", name, t.Name(), r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20, size>>20)
			}
		}
	}
	rs := newScenario(rep, "restore"+name, "Restore of corpus "+name, st)
	var rr repoRead
	if p, ok := repos["immich-vault"]; ok {
		ws, from := repoReadDepths(rep, name, bigBName(c))
		if rr, err = measureRepoRead(p, ws, from); err != nil {
			return fmt.Errorf("cold read of the repository of %s: %w", name, err)
		}
		rep.RepoReads[name] = rr
		logf("corpus %s repository read (cold cache): %.2fs (%d goroutines)", name, rr.Time.Seconds(), rr.Workers)
	}
	// The write floor writes a copy of the corpus's tree: planned from the
	// corpus, written once the corpus is gone when the disk plan removes
	// it, so that it takes the place the restore targets take after it.
	tp, err := ceiling.PlanTree(dir)
	if err != nil {
		return fmt.Errorf("write floor of %s: %w", name, err)
	}
	if plan.RemoveCorpus {
		// The restores are checked against st, not against the files.
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove corpus %s before its restores: %w", name, err)
		}
		logf("corpus %s removed before its restores (disk plan)", name)
	}
	wws, wfrom := writeFloorDepths(rep, name, bigBName(c))
	wf, err := measureWriteFloorWith(tp, filepath.Join(c.Work, "writefloor-"+name), coldWritePass, wws, wfrom)
	if err != nil {
		return fmt.Errorf("write floor of %s: %w", name, err)
	}
	if rep.WriteFloors == nil {
		rep.WriteFloors = map[string]writeFloor{}
	}
	rep.WriteFloors[name] = wf
	logf("corpus %s write floor (create and write every file, no fsync): %s", name, wf.note())
	setRestoreBound(rep, rs, name, rr, wf)
	for r := 0; r < reps; r++ {
		for _, t := range order(tools, r) {
			target := filepath.Join(c.Work, "restore-"+t.Name())
			os.RemoveAll(target)
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			dropCaches()
			m, err := t.Restore(repos[t.Name()], target)
			if err != nil {
				return fmt.Errorf("restore %s with %s: %w", name, t.Name(), err)
			}
			noteFree()
			got, files, err := treeBytes(target)
			if err != nil {
				return err
			}
			if got != st.Bytes || files != st.Files {
				return fmt.Errorf("restore %s with %s: restored %d files / %d bytes, corpus has %d / %d", name, t.Name(), files, got, st.Files, st.Bytes)
			}
			os.RemoveAll(target)
			if r == reps-1 { // its last restore: the repository is no longer needed
				logRepoDisk(name+" after "+t.Name()+"'s restore", map[string]string{t.Name(): repos[t.Name()]}, plan)
				removeRepo(repos[t.Name()])
				delete(repos, t.Name())
			}
			rs.Runs[t.Name()] = append(rs.Runs[t.Name()], m)
			logf("restore %s %-12s rep %d: %6.2fs cpu %6.2fs rss %4d MiB", name, t.Name(), r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20)
		}
	}
	for _, p := range repos {
		removeRepo(p)
	}
	if plan.LowestFree >= 0 {
		logf("corpus %s: lowest free space during its scenarios %s (plan: peak %s + margin %s of %s free)", name, gb(plan.LowestFree), gb(plan.Peak), gb(plan.Margin), gb(plan.Need.Free))
	}
	return nil
}

// planCorpusDisk measures the corpus on disk and the free space, runs
// planDisk, logs and records the plan, and returns the tools it keeps.
func planCorpusDisk(c config, rep *report, tools []tool, name, dir string, st corpus.Stats, keepCorpus bool, reps int) (*diskPlan, []tool, error) {
	used, err := diskUsage(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("disk usage of corpus %s: %w", name, err)
	}
	free, known := workFree(c, name)
	var names []string
	for _, t := range tools {
		names = append(names, t.Name())
	}
	var flagged []droppedTool
	if name == bigBName(c) && c.BBigPeers != "" {
		var keep []string
		for _, n := range names {
			if n == "immich-vault" || slices.Contains(strings.Split(c.BBigPeers, ","), n) {
				keep = append(keep, n)
			} else {
				flagged = append(flagged, droppedTool{Tool: n, Flag: "-b-big-peers " + c.BBigPeers})
			}
		}
		names = keep
	}
	p := planDisk(name, diskNeed{Corpus: used, Input: st.Bytes, Files: st.Files, Free: free, FreeKnown: known, KeepCorpus: keepCorpus, Reps: reps}, names)
	p.Dropped = append(flagged, p.Dropped...)
	rep.DiskPlans = append(rep.DiskPlans, &p)
	logf("%s", p.summary())
	var keep []tool
	for _, t := range tools {
		if slices.Contains(p.Tools, t.Name()) {
			keep = append(keep, t)
		}
	}
	return &p, keep, nil
}

// workFree is the free space in the work directory, or -disk-free when
// that is less.
func workFree(c config, corpus string) (int64, bool) {
	free, known := freeSpace(c.Work)
	if c.DiskFree > 0 && (!known || free > c.DiskFree) {
		free, known = c.DiskFree, true
		logf("disk plan for corpus %s: -disk-free %s assumed free", corpus, gb(c.DiskFree))
	}
	return free, known
}

// logRepoDisk logs each repository's and cache's size on disk next to the
// plan's estimate (how good the estimate was, for the next calibration).
func logRepoDisk(name string, repos map[string]string, p *diskPlan) {
	var parts []string
	for _, t := range p.Tools {
		r, ok := repos[t]
		if !ok {
			continue
		}
		a, _ := diskUsage(r)
		b, _ := diskUsage(r + ".cache")
		parts = append(parts, fmt.Sprintf("%s %.0f MiB + cache %.0f MiB", t, float64(a)/(1<<20), float64(b)/(1<<20)))
	}
	logf("corpus %s repositories on disk: %s (estimate %.0f MiB each; corpus %.0f MiB on disk)", name, strings.Join(parts, ", "), float64(p.Repo)/(1<<20), float64(p.Need.Corpus)/(1<<20))
}

// moveAll renames every file under root/from to the same relative path
// under root/to (new directories), then removes the emptied tree.
func moveAll(root, from, to string) error {
	src := filepath.Join(root, from)
	var files []string
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range files {
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, to, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(p, dst); err != nil {
			return err
		}
	}
	return os.RemoveAll(src)
}

// profileRun runs one backup of ours with a CPU profile and a GC trace and
// records `go tool pprof -top` of it under title.
func profileRun(c config, rep *report, ours tool, repoDir, src, title string) (measurement, error) {
	v, ok := ours.(*vault)
	if !ok {
		return measurement{}, fmt.Errorf("profile: not immich-vault")
	}
	prof := filepath.Join(c.Work, "cpu.pprof")
	defer os.Remove(prof)
	dropCaches()
	m, out, err := v.ProfiledBackup(repoDir, src, prof)
	if err != nil {
		return m, fmt.Errorf("profiled backup (%s): %w", title, err)
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=22", prof).CombinedOutput()
	if err != nil {
		return m, fmt.Errorf("pprof: %v\n%s", err, top)
	}
	cum, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=22", prof).CombinedOutput()
	if err != nil {
		return m, fmt.Errorf("pprof: %v\n%s", err, cum)
	}
	if i := strings.Index(string(cum), "      flat  flat%"); i >= 0 {
		top = append(append(top, "\nsorted by cumulative time:\n"...), cum[i:]...)
	}
	rep.Profiles = append(rep.Profiles, profile{Title: title, Top: string(top), MaxGoHeap: maxGoHeap(out)})
	return m, nil
}

// maxGoHeap returns the largest live heap (the last figure of
// "A->B->C MB") in a Go GC trace, in bytes.
func maxGoHeap(trace []byte) int64 {
	var best int64
	for _, l := range strings.Split(string(trace), "\n") {
		if !strings.HasPrefix(l, "gc ") {
			continue
		}
		for _, f := range strings.Fields(l) {
			parts := strings.Split(f, "->")
			if len(parts) != 3 {
				continue
			}
			var live int64
			if _, err := fmt.Sscan(parts[2], &live); err == nil && live<<20 > best {
				best = live << 20
			}
		}
	}
	return best
}

func dbScenario(c config, rep *report, tools []tool) error {
	dir := filepath.Join(c.Work, "corpusC")
	logf("generating corpus C (%d days, %d rows)", c.CDays, c.CRows)
	if _, err := corpus.GenerateC(dir, c.CDays, c.CRows, c.Seed); err != nil {
		return fmt.Errorf("corpus C: %w", err)
	}
	defer os.RemoveAll(dir)
	db := &dbSeries{Days: c.CDays, Size: map[string][]int64{}, Wall: map[string][]time.Duration{}}
	rep.DB = db
	for d := 1; d <= c.CDays; d++ {
		fi, err := os.Stat(filepath.Join(dir, corpus.DayName(d)))
		if err != nil {
			return err
		}
		db.DayBytes = append(db.DayBytes, fi.Size())
	}
	repos := map[string]string{}
	for _, t := range tools {
		p, err := newRepo(c, t, "C")
		if err != nil {
			return err
		}
		repos[t.Name()] = p
	}
	for d := 1; d <= c.CDays; d++ { // interleaved: every tool stores day d before day d+1
		for _, t := range order(tools, d) {
			m, err := t.BackupStdin(repos[t.Name()], "immich.sql", filepath.Join(dir, corpus.DayName(d)))
			if err != nil {
				return fmt.Errorf("dump day %d with %s: %w", d, t.Name(), err)
			}
			size, _, err := treeBytes(repos[t.Name()])
			if err != nil {
				return err
			}
			db.Size[t.Name()] = append(db.Size[t.Name()], size)
			db.Wall[t.Name()] = append(db.Wall[t.Name()], m.Wall)
			logf("dump day %2d %-12s %6.2fs repo %d MiB", d, t.Name(), m.Wall.Seconds(), size>>20)
		}
	}
	for _, p := range repos {
		removeRepo(p)
	}
	return nil
}

func bigScenario(c config, rep *report, ours tool, n int) error {
	p, err := newRepo(c, ours, fmt.Sprintf("big%d", n))
	if err != nil {
		return err
	}
	defer removeRepo(p)
	logf("big index: writing %d fake blobs into the index of %s", n, p)
	start := time.Now()
	files, err := fillIndex(context.Background(), p, n, 64, 250000, c.Seed)
	if err != nil {
		return fmt.Errorf("fill index: %w", err)
	}
	b := bigIndex{Blobs: n, IndexFiles: files, FillTime: time.Since(start)}
	src := filepath.Join(c.Work, "small")
	defer os.RemoveAll(src)
	for i, what := range []string{"cold cache", "warm cache"} {
		if _, err := corpus.GenerateA(filepath.Join(src, fmt.Sprint(i)), 64<<20, c.Seed+uint64(i)+100); err != nil {
			return err
		}
		dropCaches()
		var m measurement
		var err error
		if i == 0 && n == c.Blobs[len(c.Blobs)-1] {
			m, err = profileRun(c, rep, ours, p, src, fmt.Sprintf("first backup into a repository of %d blobs (builds the local cache)", n))
		} else {
			m, err = ours.Backup(p, src)
		}
		if err != nil {
			return fmt.Errorf("backup into repository with %d blobs (%s): %w", n, what, err)
		}
		if i == 0 {
			b.Cold = m
		} else {
			b.Warm = m
		}
		logf("big index %d blobs, %s: %6.2fs cpu %6.2fs rss %d MiB", n, what, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20)
	}
	rep.Big = append(rep.Big, b)
	return nil
}

func machineInfo(work string) map[string]string {
	m := map[string]string{"cores": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m["kernel"] = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			m["memory"] = f[1] + " kB"
		}
	}
	_ = os.MkdirAll(work, 0o755)
	if out, err := exec.Command("df", "-T", work).Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) >= 2 {
			dev := f[0]
			m["disk"] = dev + " (" + f[1] + ")"
			base := filepath.Base(dev)
			for len(base) > 0 {
				if r, err := os.ReadFile("/sys/block/" + base + "/queue/rotational"); err == nil {
					kind := "SSD/virtual (non-rotational)"
					if strings.TrimSpace(string(r)) == "1" {
						kind = "rotational"
					}
					m["disk"] += ", " + kind + " as reported by /sys/block"
					break
				}
				base = base[:len(base)-1]
			}
		}
	}
	return m
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(v []int64) int64 {
	d := make([]time.Duration, len(v))
	for i, x := range v {
		d[i] = time.Duration(x)
	}
	return int64(median(d))
}
