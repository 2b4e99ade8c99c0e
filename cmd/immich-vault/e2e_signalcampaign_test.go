package main_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// signalTrials is the number of trials per signal and command in the long
// form (make crash: IV_SIGNAL_TRIALS, 30); 0 means the short form: one
// trial per command, the three signals taken in turn.
func signalTrials() int {
	if n, err := strconv.Atoi(os.Getenv("IV_SIGNAL_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 0
}

// TestSignalCampaign starts backup, restore, copy and prune with the real
// binary and sends SIGINT, SIGTERM or SIGHUP at a random instant of each
// run (uniform over 5/4 of its last full duration, so some land before
// the work starts and some after it ended). After every trial: no panic,
// exit 0 or 128+signal, no lock and no temporary file in either
// repository, check --read-data clean, and the command run again completes
// with a bit-identical result. The long form is part of `make crash`.
func TestSignalCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("signal campaign skipped in -short mode")
	}
	trials := signalTrials()
	e := newEnv(t)
	e.initRepo()
	dst := newEnv(t) // the copy destination
	dst.initRepo()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("IV_SIGNAL_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d (IV_SIGNAL_SEED to replay); %d trials per signal and command (0: short form)", seed, trials)

	type source struct {
		dir   string
		files map[string][]byte
	}
	sources := map[string]source{} // snapshot ID (in e) -> its content
	nsrc := 0
	var pool map[string][]byte
	newSource := func() source {
		nsrc++
		dir := filepath.Join(e.dir, fmt.Sprint("src", nsrc))
		reuse := map[string][]byte{}
		for name, b := range pool {
			if rng.IntN(2) == 0 {
				reuse[name] = b
			}
		}
		files := writeRandomTree(t, dir, 8+rng.IntN(12), rng.Uint64(), reuse)
		pool = files
		return source{dir: dir, files: files}
	}
	latest := func(x *env) string {
		s := x.snapshots()
		return s[len(s)-1].ID
	}
	copyEnv := []string{"IMMICH_VAULT_FROM_REPOSITORY=" + e.repo, "IMMICH_VAULT_FROM_PASSWORD=" + e.password}
	copyArgs := []string{"copy"}
	dur := map[string]time.Duration{}
	timed := func(op string, f func()) {
		start := time.Now()
		f()
		dur[op] = time.Since(start)
	}
	for range 2 {
		src := newSource()
		timed("backup", func() { e.ok("backup", src.dir) })
		sources[latest(e)] = src
	}
	timed("copy", func() { dst.okOpts(opts{extraEnv: copyEnv}, copyArgs...) })
	timed("restore", func() { e.ok("restore", latest(e), "--target", filepath.Join(t.TempDir(), "r")) })
	dur["prune"] = dur["backup"]

	sigs := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
	ops := []string{"backup", "restore", "copy", "prune"}
	type count struct{ trials, interrupted, completed int }
	counts := map[string]*count{}
	turn := 0
	runTrial := func(op string, sig syscall.Signal, trial int) {
		t.Helper()
		var args, extra []string
		x := e
		var src source
		var target string
		switch op {
		case "backup":
			src = newSource()
			args = []string{"backup", src.dir}
		case "restore":
			id := latest(e)
			src = sources[id]
			target = filepath.Join(t.TempDir(), "r")
			args = []string{"restore", id, "--target", target}
		case "copy":
			// Something to copy: a new snapshot in e.
			src = newSource()
			e.ok("backup", src.dir)
			sources[latest(e)] = src
			x, extra, args = dst, copyEnv, copyArgs
		case "prune":
			// Something to prune: forget the oldest snapshot.
			if s := e.snapshots(); len(s) > 2 {
				e.ok("forget", s[0].ID)
				delete(sources, s[0].ID)
			}
			args = []string{"prune", "--max-unused", "0%"}
		}
		delay := time.Duration(rng.Int64N(int64(dur[op])*5/4 + 1))
		what := fmt.Sprintf("trial %d: %s, %v after %v", trial, op, sig, delay.Round(time.Millisecond))
		r := x.startSignal(delay, sig, extra, args...)
		x.checkSignalled(what, sig, r)
		if x != e {
			e.checkSignalled(what+" (source repository)", sig, r)
		}
		c := counts[op+" "+sig.String()]
		if c == nil {
			c = &count{}
			counts[op+" "+sig.String()] = c
		}
		c.trials++
		if r.code == 0 {
			c.completed++
			dur[op] = r.ran
		} else {
			c.interrupted++
		}
		// Run it again: it completes, and the result is bit-identical.
		switch op {
		case "backup":
			if r.code != 0 {
				e.ok(args...)
			}
			id := latest(e)
			sources[id] = src
			e.restoreMatches(id, src.dir, src.files)
		case "restore":
			if r.code != 0 {
				e.ok(append(args, "--overwrite", "if-changed")...)
			}
			e.restoreMatchesAt(target, src.dir, src.files)
		case "copy":
			if r.code != 0 {
				dst.okOpts(opts{extraEnv: copyEnv}, copyArgs...)
			}
			dst.restoreMatches(latest(dst), src.dir, src.files)
		case "prune":
			if r.code != 0 {
				e.ok(args...)
			}
			id := latest(e)
			e.restoreMatches(id, sources[id].dir, sources[id].files)
		}
		if rr := x.run("check", "--read-data"); rr.code != exitOK {
			t.Fatalf("%s: check --read-data failed:\n%v", what, rr)
		}
	}
	if trials == 0 {
		for _, op := range ops {
			runTrial(op, sigs[turn%len(sigs)], 0)
			turn++
		}
	} else {
		for trial := range trials {
			for _, op := range ops {
				for _, sig := range sigs {
					runTrial(op, sig, trial)
				}
			}
		}
	}
	e.ok("check", "--read-data")
	for _, op := range ops {
		for _, sig := range sigs {
			if c := counts[op+" "+sig.String()]; c != nil {
				t.Logf("%-7s %-10v %3d trials: %3d interrupted (exit %d), %3d completed before the signal; no panic, no lock or temporary file left, check --read-data clean and re-runs bit-identical after each",
					op, sig, c.trials, c.interrupted, signalExit[sig], c.completed)
			}
		}
	}
}

// restoreMatchesAt compares a restore of src at target with files.
func (e *env) restoreMatchesAt(target, src string, files map[string][]byte) {
	e.t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(target, src, filepath.FromSlash(name)))
		if err != nil || string(got) != string(want) {
			e.t.Fatalf("%s differs after the restore was run again (err %v)", name, err)
		}
	}
}
