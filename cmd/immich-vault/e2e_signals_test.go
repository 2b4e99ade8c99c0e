package main_test

// Regression tests of issue 11 items 5, 6, 7 and 9: signals at any instant,
// FIFOs swapped in under the walk, a full cache disk, and errors that say
// what happened. They drive the real binary (TestMain builds it).

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/ops"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/local"
)

// Exit codes of a run ended by a signal: 128+signal.
var signalExit = map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143, syscall.SIGHUP: 129}

// signalRun is the outcome of startSignal.
type signalRun struct {
	code      int           // exit code (-1: killed by a signal it did not handle)
	signalled bool          // the signal was sent before the process ended
	ran       time.Duration // start to exit
	out       string
}

// environ is the environment of a run by startSignal (as runOpts builds it).
func (e *env) environ(extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + e.home, "LANG=C.UTF-8", "TMPDIR=" + os.TempDir(),
		"IMMICH_VAULT_REPOSITORY=" + e.repo, "IMMICH_VAULT_PASSWORD=" + e.password,
		"IMMICH_VAULT_CACHE_DIR=" + e.cache,
	}, extra...)
}

// startSignal starts the binary with args and sends sig after delay (unless
// it ended before); it waits for the process to exit, at most cmdTimeout
// after the signal (then it fails the test: a process deaf to the signal).
// The signal is never sent before the process armed its handler (it says
// so through IMMICH_VAULT_SIGNALS_ARMED_FILE): until then, early in its
// start-up, the default action ends any process, which has done nothing
// yet (on a loaded machine that window lasted 348 ms once).
func (e *env) startSignal(delay time.Duration, sig syscall.Signal, extraEnv []string, args ...string) signalRun {
	e.t.Helper()
	cmd := exec.Command(binPath, args...)
	armed := filepath.Join(e.t.TempDir(), "armed")
	cmd.Env = e.environ(append(extraEnv, "IMMICH_VAULT_SIGNALS_ARMED_FILE="+armed)...)
	cmd.Dir = e.dir
	start := time.Now()
	buf, done := startShared(e.t, cmd)
	var err error
	signalled := false
	select {
	case err = <-done:
	case <-time.After(delay):
		for {
			if _, err := os.Stat(armed); err == nil {
				break
			}
			select {
			case err = <-done:
				e.t.Fatalf("%v exited before arming its signal handler: %v\n%s", args, err, buf.String())
			case <-time.After(time.Millisecond):
			}
		}
		signalled = cmd.Process.Signal(sig) == nil
		select {
		case err = <-done:
		case <-time.After(cmdTimeout):
			// SIGQUIT: the Go runtime prints every goroutine's stack, so
			// the failure shows where the process hung.
			cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			e.t.Fatalf("%v did not exit within %v of %v (its goroutines, from SIGQUIT, are at the end):\n%s", args, cmdTimeout, sig, buf.String())
		}
	}
	r := signalRun{signalled: signalled, ran: time.Since(start), out: buf.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.out += fmt.Sprintf("\n[killed by %v, %v after its start]", ws.Signal(), r.ran.Round(time.Millisecond))
		}
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// checkSignalled fails the test unless r ended as a run interrupted by sig
// (or completed before it) should: exit 0 or 128+sig, no panic, no lock
// left in the repository and no temporary file in it.
func (e *env) checkSignalled(what string, sig syscall.Signal, r signalRun, okCodes ...int) {
	e.t.Helper()
	if strings.Contains(r.out, "panic:") || strings.Contains(r.out, "fatal error:") || strings.Contains(r.out, "goroutine ") {
		e.t.Fatalf("%s: the process crashed on %v:\n%s", what, sig, clip(r.out))
	}
	ok := r.code == 0 || r.code == signalExit[sig]
	for _, c := range okCodes {
		ok = ok || r.code == c
	}
	if !ok {
		e.t.Fatalf("%s: exit code %d after %v (want 0 or %d):\n%s", what, r.code, sig, signalExit[sig], clip(r.out))
	}
	if locks := e.liveLocks(); len(locks) > 0 {
		e.t.Fatalf("%s: %d lock(s) left after %v (exit %d): %v\n%s", what, len(locks), sig, r.code, locks, clip(r.out))
	}
	if tmps := repoTempFiles(e.t, e.repo); len(tmps) > 0 {
		e.t.Fatalf("%s: temporary files left after %v (exit %d): %v\n%s", what, sig, r.code, tmps, clip(r.out))
	}
}

// liveLocks lists the locks in the repository (read with the repository
// package: locks/ also holds prune's pending-deletion records, which an
// interrupted prune legitimately leaves for the next one).
func (e *env) liveLocks() []string {
	e.t.Helper()
	if len(e.repoLocks()) == 0 {
		return nil // nothing in locks/ at all: no need to open it
	}
	be, err := local.Open(e.repo)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	r, err := repo.Open(ctx, be, []byte(e.password), repo.Options{NoCache: true})
	if err != nil {
		e.t.Fatalf("open %s: %v", e.repo, err)
	}
	defer r.Close()
	locks, err := r.Locks(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range locks {
		out = append(out, fmt.Sprintf("%s lock of pid %d (%s)", l.Purpose, l.PID, l.File().Short()))
	}
	return out
}

// repoLocks lists the files in the repository's locks/ directory (locks
// and pending deletion records alike: a signalled prune must leave
// neither).
func (e *env) repoLocks() []string {
	ents, err := os.ReadDir(filepath.Join(e.repo, "locks"))
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	return names
}

// repoTempFiles lists the ".tmp-*" files anywhere under dir.
func repoTempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var tmps []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			tmps = append(tmps, p)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return tmps
}

// manyDirs writes a tree of ndirs directories holding nfiles small files
// each: the walk phase of a backup of it lasts long enough to be hit.
func manyDirs(t *testing.T, root string, ndirs, nfiles int) {
	t.Helper()
	for d := range ndirs {
		dir := filepath.Join(root, fmt.Sprintf("a%02d", d%10), fmt.Sprintf("d%04d", d))
		mustMkdirAll(t, dir)
		for f := range nfiles {
			mustWrite(t, filepath.Join(dir, fmt.Sprintf("f%03d", f)), []byte(fmt.Sprintf("%d/%d %s", d, f, strings.Repeat("x", f*37))), 0o644)
		}
	}
}

// SIGINT during the walk of a backup: the process used to panic with "send
// on closed channel" (repo/archiver.go: directory goroutines outlived the
// walker that closed the file-job channel). Every trial must end with exit
// 130 (or 0 if it finished first), no panic, no lock and no temporary file,
// and a backup run afterwards must complete.
func TestSignalBackupDuringWalk(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	manyDirs(t, src, 400, 25)
	start := time.Now()
	e.ok("backup", src)
	full := time.Since(start)
	t.Logf("a backup of the tree took %v", full)
	interrupted := 0
	for i := range 12 {
		// Fresh cache each time so that the walk reads (no file cache).
		os.RemoveAll(e.cache)
		delay := full * time.Duration(i+1) / 14
		r := e.startSignal(delay, syscall.SIGINT, nil, "backup", "--force", src)
		e.checkSignalled(fmt.Sprintf("trial %d (SIGINT after %v)", i, delay.Round(time.Millisecond)), syscall.SIGINT, r)
		if r.code == 130 {
			interrupted++
		}
	}
	t.Logf("%d of 12 backups interrupted mid-run", interrupted)
	e.ok("backup", src)
	e.ok("check")
}

// runBounded runs the binary like e.run, but kills it after bound and
// reports that (a hang) instead of failing the test.
func (e *env) runBounded(bound time.Duration, args ...string) (result, bool) {
	e.t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.dir
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	hung := false
	var err error
	select {
	case err = <-done:
	case <-time.After(bound):
		hung = true
		cmd.Process.Kill()
		err = <-done
	}
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r, hung
}

// Temporary files left by a SIGKILLed writer: check reports them (count
// and bytes), prune removes the ones older than the safe age and keeps a
// young one (it may be a live writer's).
func TestSignalKilledTempFilesReportedAndPruned(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	writeRandomTree(t, src, 6, 7, nil)
	e.ok("backup", src)
	// What a SIGKILL during a backup leaves: a spooled pack in data/ and
	// a Save's file in data/xx and index/ (contents do not matter).
	old := time.Now().Add(-2 * time.Hour)
	aged := []string{filepath.Join(e.repo, "data", ".tmp-111"), filepath.Join(e.repo, "data", "3f", ".tmp-222"), filepath.Join(e.repo, "index", ".tmp-333")}
	for _, p := range aged {
		mustWrite(t, p, make([]byte, 100_000), 0o600)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	young := filepath.Join(e.repo, "data", ".tmp-444")
	mustWrite(t, young, make([]byte, 5000), 0o600)

	r := e.ok("check")
	if !strings.Contains(r.stdout, "4 temporary file(s) (297.9 KiB)") {
		t.Errorf("check does not report the 4 temporary files (305000 bytes):\n%v", r)
	}
	res := decodeJSON[struct {
		TempFiles *struct {
			Count int   `json:"count"`
			Bytes int64 `json:"bytes"`
		} `json:"temp_files"`
	}](t, e.ok("check", "--json"))
	if res.TempFiles == nil || res.TempFiles.Count != 4 || res.TempFiles.Bytes != 305_000 {
		t.Errorf("check --json temp_files = %+v, want count 4, bytes 305000", res.TempFiles)
	}
	r = e.ok("prune")
	if !strings.Contains(r.stdout, "temporary files left by killed processes: 3 (") || !strings.Contains(r.stdout, "removed, 1 (") {
		t.Errorf("prune does not report removing 3 and keeping 1 temporary file:\n%v", r)
	}
	for _, p := range aged {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("prune left %s (2 hours old): %v", p, err)
		}
	}
	if _, err := os.Lstat(young); err != nil {
		t.Errorf("prune removed the young temporary file %s (it may be a running writer's): %v", young, err)
	}
	e.ok("check", "--read-data")
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it at the end of the test. Tests using it need root (they skip without).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	mustMkdirAll(t, dir)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// mountExt4 makes an ext4 file system of size bytes in an image file,
// mounts it through a loop device on a new directory and unmounts it at
// the end of the test. Tests using it need root (they skip without).
func mountExt4(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a loop device")
	}
	img := filepath.Join(t.TempDir(), "ext4.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img, fmt.Sprintf("%dk", size>>10)).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "ext4")
	mustMkdirAll(t, dir)
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount an ext4 image: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// fillDisk fills the file system of dir (one file of zeros) so that at
// most about leave bytes stay free.
func fillDisk(t *testing.T, dir string, leave int64) {
	t.Helper()
	avail, err := ops.FreeSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	free := int64(avail)
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n := int64(0); n < free-leave; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), free-leave-n)]); err != nil {
			break // full
		}
	}
}

// A full repository disk: the backup fails with "no space left on device"
// naming the repository, not with "pack: writer broken by earlier error";
// it leaves no lock and no temporary file, and the repository checks. On
// tmpfs (packs written through the page cache) and on ext4 in a loop
// device (packs written with O_DIRECT: repo/packsink_linux.go).
func TestSignalRepositoryDiskFull(t *testing.T) {
	for _, kind := range []string{"tmpfs", "ext4"} {
		t.Run(kind, func(t *testing.T) { testRepositoryDiskFull(t, kind) })
	}
}

func testRepositoryDiskFull(t *testing.T, kind string) {
	e := newEnv(t)
	if kind == "ext4" {
		e.repo = filepath.Join(mountExt4(t, 24<<20), "repo")
	} else {
		e.repo = filepath.Join(mountTmpfs(t, 24<<20), "repo")
	}
	e.initRepo()
	small := filepath.Join(e.dir, "small")
	writeRandomTree(t, small, 4, 1, nil)
	e.ok("backup", small)
	big := filepath.Join(e.dir, "big")
	writeRandomTree(t, big, 150, 2, nil) // ~35 MB of random data
	// The free-space check refuses it once the backup's walk ahead has
	// counted the changed files, before anything is written.
	files := repoListing(t, e.repo)
	pre := e.run("backup", big)
	if pre.code != exitFailure || !strings.Contains(pre.stderr, "No data was written") || !strings.Contains(pre.stderr, e.repo) {
		t.Fatalf("preflight: want exit 1 saying nothing was written to %s:\n%v", e.repo, pre)
	}
	if got := repoListing(t, e.repo); !slices.Equal(got, files) {
		t.Fatalf("files written by refused backups:\nbefore %v\nafter  %v", files, got)
	}
	// Past the preflight, the disk fills up during the backup.
	for i := range 6 {
		r := e.run("backup", "--no-space-check", big)
		if r.code != exitFailure || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, e.repo) {
			t.Fatalf("run %d: want exit 1 with \"no space left on device\" naming %s:\n%v", i, e.repo, r)
		}
		t.Logf("run %d: %s", i, r.stderr)
		if strings.Contains(r.stderr, "writer broken") && !strings.Contains(r.stderr, "no space left on device") {
			t.Fatalf("run %d: the error hides the cause:\n%v", i, r)
		}
		if locks := e.repoLocks(); len(locks) > 0 {
			t.Fatalf("run %d: lock left: %v", i, locks)
		}
		if tmps := repoTempFiles(t, e.repo); len(tmps) > 0 {
			t.Fatalf("run %d: temporary files left: %v", i, tmps)
		}
	}
	e.ok("check", "--read-data")
	// A disk without room even for the lock: refused at once with the
	// check's message, not with the lock's "no space left on device".
	fillDisk(t, filepath.Dir(e.repo), 0)
	writeRandomTree(t, small, 2, 1, nil)
	full := e.run("backup", small)
	if full.code != exitFailure || !strings.Contains(full.stderr, "Nothing was written") || !strings.Contains(full.stderr, "needs at least") || strings.Contains(full.stderr, "lock") {
		t.Fatalf("full disk: want exit 1 saying nothing was written and the room needed:\n%v", full)
	}
}

// A directory too large for one tree blob: the error names the directory
// and the limit (splitting trees is a separate issue). Symlinks with long
// targets reach the 64 MiB limit with ~16,000 entries.
func TestSignalTreeTooLargeNamesDirectory(t *testing.T) {
	e := newEnv(t)
	// A format 1 repository: its directories are one tree blob each. Format
	// 2 (init's default) splits such a directory instead (TestBigDirectory,
	// and the end of this test).
	e.ok("init", "--repository-version", "1")
	big := filepath.Join(e.dir, "src", "huge-dir")
	mustMkdirAll(t, big)
	target := strings.Repeat("t", 4000)
	name := strings.Repeat("n", 240)
	for i := range 17_000 {
		if err := os.Symlink(target, filepath.Join(big, fmt.Sprintf("%s%06d", name, i))); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run("backup", filepath.Join(e.dir, "src"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "directory "+big+": ") || !strings.Contains(r.stderr, "64 MiB") {
		t.Fatalf("want exit 1 naming directory %s and the 64 MiB limit:\n%v", big, r)
	}
	if locks := e.repoLocks(); len(locks) > 0 {
		t.Fatalf("lock left: %v", locks)
	}
	if !strings.Contains(r.stderr, "format version 1") {
		t.Errorf("the message does not say the cause is the repository's format version 1:\n%v", r)
	}

	// The same directory into a format 2 repository: stored split, and
	// restored whole.
	e2 := newEnv(t)
	e2.initRepo()
	e2.ok("backup", filepath.Join(e.dir, "src"))
	out := filepath.Join(e2.dir, "out")
	e2.ok("restore", "latest", "--target", out)
	entries, err := os.ReadDir(filepath.Join(out, big))
	if err != nil || len(entries) != 17_000 {
		t.Fatalf("restored %d of 17000 entries of the huge directory (%v)", len(entries), err)
	}
}

// --password-file /dev/zero used to read without bound; a password command
// that never ends used to hang. Both now fail with a message saying so.
func TestSignalPasswordFileAndCommandBounded(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	none := strPtr("")
	r, hung := e.runBounded(2*time.Minute, "--password-file", "/dev/zero", "snapshots")
	if hung || r.code != exitFailure || !strings.Contains(r.stderr, "no line end within its first 4096 bytes") {
		t.Fatalf("--password-file /dev/zero: want exit 1 saying no line end within 4096 bytes (hung: %v):\n%v", hung, r)
	}
	// A password followed by more lines is fine.
	pw := filepath.Join(e.dir, "pw")
	mustWrite(t, pw, []byte(e.password+"\n"+strings.Repeat("comment\n", 1000)), 0o600)
	e.okOpts(opts{password: none}, "--password-file", pw, "snapshots")

	start := time.Now()
	r = e.runOpts(opts{password: none, extraEnv: []string{"IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT=2s"}},
		"--password-command", "sleep 600", "snapshots")
	if r.code != exitFailure || !strings.Contains(r.stderr, "did not finish within 2s") || !strings.Contains(r.stderr, "IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT") {
		t.Fatalf("hanging --password-command: want exit 1 saying it did not finish within 2s:\n%v", r)
	}
	t.Logf("the hanging password command was given up after %v", time.Since(start).Round(time.Millisecond))
	e.okOpts(opts{password: none}, "--password-command", "echo '"+e.password+"'", "snapshots")
}

// The cache on a full file system: already full at start, and filling
// during the backup (Badger writes through memory mappings of sparse
// files: a block that cannot be allocated is a SIGBUS, which used to kill
// the process with a goroutine dump and its lock left). The cache is
// disposable: every command must work, with a warning.
func TestSignalCacheDiskFull(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	writeRandomTree(t, src, 40, 3, nil)
	manyDirs(t, filepath.Join(src, "many"), 200, 60)
	e.ok("backup", src)
	id := e.snapshots()[0].ID

	t.Run("filling", func(t *testing.T) {
		// Room for the cache's reserve (48 MiB) and a little more; once
		// the backup has opened its cache, other processes take all but
		// 16 MiB: below the reserve, so the cache must move into memory.
		// What it cannot survive (FORMAT §12, docs/PLATFORMS.md): the disk
		// filled to the last block within one check interval (250 ms)
		// while Badger writes through its memory-mapped files, a SIGBUS
		// no process can catch; leaving nothing made this test fail on a
		// loaded machine exactly so.
		e.t = t
		e.cache = mountTmpfs(t, 64<<20)
		degraded := 0
		for i := range 3 {
			os.Remove(filepath.Join(e.cache, "filler"))
			// New data uploaded at 1 MiB/s keeps the backup running for
			// seconds after the disk filled, many check intervals: the
			// cache must notice and move into memory meanwhile.
			fresh := make([]byte, 3<<20)
			rand.Read(fresh)
			freshDir := filepath.Join(e.dir, "fresh")
			mustMkdirAll(t, freshDir)
			mustWrite(t, filepath.Join(freshDir, fmt.Sprintf("%d.bin", i)), fresh, 0o644)
			cmd := exec.Command(binPath, "backup", "--force", "--limit-upload", "1024", src, freshDir)
			cmd.Env = e.environ()
			out, done := startShared(t, cmd)
			var err error
			filled := false
		wait:
			for {
				select {
				case err = <-done:
					break wait
				case <-time.After(5 * time.Millisecond):
					if !filled {
						if m, _ := filepath.Glob(filepath.Join(e.cache, "*", "index", "*.mem")); len(m) > 0 {
							fillDisk(t, e.cache, 16<<20)
							filled = true
						}
					}
				}
			}
			text := out.String()
			if err != nil || strings.Contains(text, "goroutine ") {
				t.Fatalf("backup %d with the cache's disk filled meanwhile (filled: %v): %v\n%s", i, filled, err, clip(text))
			}
			if strings.Contains(text, "continues in memory") {
				degraded++
			}
			t.Logf("backup %d (filled during the run: %v): %s", i, filled, strings.TrimSpace(text))
		}
		if degraded == 0 {
			t.Errorf("no backup reported moving its cache into memory")
		}
		e.restoreCheck(t, id, src)
	})
	t.Run("full", func(t *testing.T) {
		e.t = t
		e.cache = mountTmpfs(t, 2<<20)
		fillDisk(t, e.cache, 64<<10)
		for _, args := range [][]string{{"backup", src}, {"snapshots"}, {"check"}} {
			r := e.run(args...)
			if r.code != exitOK || strings.Contains(r.output(), "goroutine ") || !strings.Contains(r.stderr, "cache") {
				t.Fatalf("%v with the cache on a full tmpfs: want exit 0 and a warning about the cache:\n%v", args, r)
			}
			t.Logf("%v: %s", args, strings.TrimSpace(r.stderr))
		}
		e.restoreCheck(t, id, src)
	})
}

// restoreCheck restores snapshot id and compares it with the directory src
// (which must not have changed since).
func (e *env) restoreCheck(t *testing.T, id, src string) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "r")
	r := e.run("restore", id, "--target", target)
	if r.code != exitOK || strings.Contains(r.output(), "goroutine ") {
		t.Fatalf("restore: want exit 0:\n%v", r)
	}
	if out, err := exec.Command("diff", "-r", src, filepath.Join(target, src)).CombinedOutput(); err != nil {
		t.Fatalf("restored tree differs from %s: %v\n%s", src, err, out)
	}
}

// Each signal gives 128+signal; a second one while the first is being
// handled does not skip the clean-up (SIGHUP used to kill the process at
// once, leaving its lock and ~17 MB temporary pack files).
func TestSignalTwiceStillCleansUp(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	writeRandomTree(t, src, 300, 5, nil) // ~70 MB
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		os.RemoveAll(e.cache)
		cmd := exec.Command(binPath, "backup", "--force", src)
		cmd.Env = e.environ()
		out, done := startShared(t, cmd)
		// Wait until packs are being written (a state, not a delay).
		var err error
		signalled := false
	wait:
		for deadline := time.Now().Add(cmdTimeout); ; {
			select {
			case err = <-done:
				break wait
			case <-time.After(2 * time.Millisecond):
			}
			if !signalled && len(repoTempFiles(t, filepath.Join(e.repo, "data"))) > 0 {
				cmd.Process.Signal(sig)
				time.Sleep(time.Millisecond)
				cmd.Process.Signal(sig)
				signalled = true
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("%v: backup did not end within %v:\n%s", sig, cmdTimeout, out.String())
			}
		}
		r := signalRun{signalled: signalled, out: out.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		if !signalled {
			t.Logf("%v: the backup ended before a pack was seen being written", sig)
			continue
		}
		if r.code != signalExit[sig] {
			t.Errorf("%v twice: exit %d, want %d:\n%s", sig, r.code, signalExit[sig], r.out)
		}
		e.checkSignalled(sig.String()+" twice", sig, r)
	}
	e.ok("backup", src)
	e.ok("check", "--read-data")
}
