package main_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashTrials is the number of trials per operation: a handful under `make
// test`, IV_CRASH_TRIALS (make crash: 50) for the long form.
func crashTrials() int {
	if n, err := strconv.Atoi(os.Getenv("IV_CRASH_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// startKill starts the binary with args and SIGKILLs it after delay (unless
// it ended before). It reports whether the command completed (exit 0) and
// how long it ran.
func (e *env) startKill(delay time.Duration, args ...string) (completed bool, ran time.Duration, out string) {
	e.t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + e.home, "TMPDIR=" + os.TempDir(),
		"IMMICH_VAULT_REPOSITORY=" + e.repo, "IMMICH_VAULT_PASSWORD=" + e.password,
		"IMMICH_VAULT_CACHE_DIR=" + e.cache,
	}
	start := time.Now()
	buf, done := startShared(e.t, cmd)
	var err error
	select {
	case err = <-done:
	case <-time.After(delay):
		cmd.Process.Signal(syscall.SIGKILL)
		err = <-done
	}
	ran = time.Since(start)
	if err == nil {
		return true, ran, buf.String()
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != -1 {
		e.t.Fatalf("%v exited %d without being killed:\n%s", args, ee.ExitCode(), buf.String())
	}
	return false, ran, buf.String()
}

// startShared starts cmd with its standard output and error going to one
// buffer, and returns the buffer and a channel that receives cmd.Wait's
// result when the process ends.
func startShared(t *testing.T, cmd *exec.Cmd) (*lockedBuffer, <-chan error) {
	t.Helper()
	buf := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return buf, done
}

// lockedBuffer collects a running process's output; String may be called
// while the process still writes (failure messages of a running test).
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// TestCrashHarness repeatedly starts backup, prune and forget --prune with
// the real binary, SIGKILLs each at a random moment, and then requires
// that check --read-data passes and every snapshot that existed before
// (and was not legitimately forgotten) restores bit-identical.
func TestCrashHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("crash harness skipped in -short mode")
	}
	trials := crashTrials()
	e := newEnv(t)
	e.initRepo()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("IV_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (IV_CRASH_SEED to replay), %d trials per operation", seed, trials)
	rng := rand.New(rand.NewPCG(seed, 99))

	type source struct {
		dir   string
		files map[string][]byte
	}
	sources := map[string]source{} // snapshot ID -> what it must restore to
	var pool map[string][]byte     // files shared by successive sources (dedup)
	nsrc := 0
	newSource := func() source {
		nsrc++
		dir := filepath.Join(e.dir, fmt.Sprint("src", nsrc))
		reuse := map[string][]byte{}
		for name, b := range pool {
			if rng.IntN(2) == 0 {
				reuse[name] = b
			}
		}
		files := writeRandomTree(t, dir, 6+rng.IntN(10), rng.Uint64(), reuse)
		pool = files
		return source{dir: dir, files: files}
	}
	snapIDs := func() map[string]bool {
		m := map[string]bool{}
		for _, s := range e.snapshots() {
			m[s.ID] = true
		}
		return m
	}
	addSnapshot := func(before map[string]bool, src source) {
		for id := range snapIDs() {
			if !before[id] {
				sources[id] = src
			}
		}
	}
	verify := func(what string, mustExist map[string]bool) {
		t.Helper()
		if r := e.run("check", "--read-data"); r.code != exitOK {
			t.Fatalf("after %s: check --read-data failed:\n%v", what, r)
		}
		now := snapIDs()
		for id := range mustExist {
			if !now[id] {
				t.Fatalf("after %s: snapshot %s disappeared", what, id[:8])
			}
		}
		for id := range now {
			src, ok := sources[id]
			if !ok {
				t.Fatalf("after %s: unknown snapshot %s", what, id[:8])
			}
			e.restoreMatches(id, src.dir, src.files)
		}
	}
	// Baseline: a few snapshots, and the duration of each operation.
	dur := map[string]time.Duration{}
	for range 3 {
		src := newSource()
		before := snapIDs()
		start := time.Now()
		e.ok("backup", src.dir)
		dur["backup"] = time.Since(start)
		addSnapshot(before, src)
	}
	dur["prune"], dur["forget"] = dur["backup"], dur["backup"]
	counts := map[string][2]int{} // op -> {killed, completed}
	for trial := range trials {
		for _, op := range []string{"backup", "prune", "forget"} {
			before := snapIDs()
			mustExist := before
			var args []string
			var src source
			switch op {
			case "backup":
				src = newSource()
				args = []string{"backup", src.dir}
			case "prune":
				// Give prune work: forget one snapshot (not interrupted).
				if len(before) > 2 {
					var oldest string
					for id := range before {
						if oldest == "" || id < oldest {
							oldest = id
						}
					}
					e.ok("forget", oldest)
					delete(sources, oldest)
					mustExist = snapIDs()
				}
				args = []string{"prune", "--max-unused", "0%"}
			case "forget":
				keep := 2 + rng.IntN(2)
				r := e.ok("forget", "--keep-last", strconv.Itoa(keep), "--dry-run", "--json")
				var groups []struct {
					Keep []struct {
						ID string `json:"id"`
					} `json:"keep"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &groups); err != nil {
					t.Fatalf("forget --json: %v\n%s", err, r.stdout)
				}
				mustExist = map[string]bool{}
				for _, g := range groups {
					for _, k := range g.Keep {
						mustExist[k.ID] = true
					}
				}
				args = []string{"forget", "--keep-last", strconv.Itoa(keep), "--prune", "--max-unused", "0%"}
			}
			delay := time.Duration(rng.Int64N(int64(dur[op])*5/4 + 1))
			completed, ran, out := e.startKill(delay, args...)
			c := counts[op]
			if completed {
				c[1]++
				dur[op] = ran
			} else {
				c[0]++
			}
			counts[op] = c
			if op == "backup" {
				addSnapshot(before, src)
			}
			for id := range sources {
				if !snapIDs()[id] {
					delete(sources, id) // forgotten by forget --prune (checked against the policy above)
				}
			}
			verify(fmt.Sprintf("trial %d: %s killed after %v (completed %v)", trial, op, delay.Round(time.Millisecond), completed), mustExist)
			_ = out
		}
	}
	// A final uninterrupted prune and check: nothing wedged by stale locks.
	e.ok("prune")
	verify("final prune", nil)
	for _, op := range []string{"backup", "prune", "forget"} {
		t.Logf("%s: %d trials, %d killed mid-run, %d completed before the kill; check --read-data and restores passed after each",
			op, trials, counts[op][0], counts[op][1])
	}
}
