package main_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A restore target without room for the snapshot (the user's worst day:
// restoring onto the replacement disk, which is smaller). The restore stops
// at the first "no space left on device" with one error that says the
// target's disk is full and how to go on: not a warning per file, not
// "damaged", not advice to run `check --read-data` (hours at 10 TB, for
// nothing). It leaves no partial file behind: every file in the target is
// whole (a file sized with holes and half written would look restored),
// and the files it reports restored are exactly those. Once there is
// room, `--overwrite if-changed` completes the restore byte for byte.
// On tmpfs and on ext4 (delayed allocation: ENOSPC from write(2)).
func TestRestoreTargetDiskFull(t *testing.T) {
	for _, kind := range []string{"tmpfs", "ext4"} {
		t.Run(kind, func(t *testing.T) { testRestoreTargetDiskFull(t, kind) })
	}
}

func testRestoreTargetDiskFull(t *testing.T, kind string) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	files := writeRandomTree(t, src, 120, 3, nil) // 120 files of 64-400 KiB, ~28 MB
	for i := range 60 {
		// Small files, one blob each: written by the pack workers in one
		// go (another path than the large files' ranges).
		b := bytes.Repeat([]byte(fmt.Sprintf("small %d|", i)), 200+i*10)
		name := fmt.Sprintf("small/s%02d.txt", i)
		mustWrite(t, filepath.Join(src, filepath.FromSlash(name)), b, 0o644)
		files[name] = b
	}
	e.ok("backup", src)

	var mnt string
	if kind == "ext4" {
		mnt = mountExt4(t, 16<<20)
	} else {
		mnt = mountTmpfs(t, 10<<20)
	}
	target := filepath.Join(mnt, "out")
	// Past the free-space check (TestRestoreRefusesTooSmallTarget), the
	// disk fills up during the restore.
	r := e.run("restore", "latest", "--target", target, "--no-space-check")
	t.Logf("full target:\n%v", r)
	if r.code != exitFailure {
		t.Fatalf("want exit %d, got:\n%v", exitFailure, r)
	}
	for _, want := range []string{"restore target is full", "no space left on device", mnt, "--overwrite if-changed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	for _, wrong := range []string{"damaged", "check --read-data"} {
		if strings.Contains(r.stderr, wrong) {
			t.Errorf("stderr blames the repository (%q) for a full target disk:\n%s", wrong, r.stderr)
		}
	}
	if n := strings.Count(r.stderr, "no space left on device"); n != 1 {
		t.Errorf("\"no space left on device\" %d times: want one error, not a warning per file:\n%s", n, r.stderr)
	}
	m := regexp.MustCompile(`restored (\d+) files .* before its disk filled up`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("stdout does not say what was restored before the disk filled up:\n%s", r.stdout)
	}
	reported, _ := strconv.Atoi(m[1])
	whole := restoredWhole(t, filepath.Join(target, src), files)
	if whole != reported {
		t.Errorf("%d whole files in the target, the restore reported %d", whole, reported)
	}
	if whole == len(files) {
		t.Fatalf("all %d files fit: the target is not too small, the test proves nothing", whole)
	}
	if locks := e.repoLocks(); len(locks) > 0 {
		t.Errorf("lock left in the repository: %v", locks)
	}
	if kind != "tmpfs" {
		return // a loop-mounted ext4 does not grow in place
	}
	// Room again (the user freed space): the same command, resumed.
	if out, err := exec.Command("mount", "-o", "remount,size=128m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount %s larger: %v\n%s", mnt, err, out)
	}
	r = e.ok("restore", "latest", "--target", target, "--overwrite", "if-changed")
	if !strings.Contains(r.stdout, fmt.Sprintf("%d existing files kept", whole)) {
		t.Errorf("the resumed restore did not keep the %d files restored before:\n%v", whole, r)
	}
	if got := restoredWhole(t, filepath.Join(target, src), files); got != len(files) {
		t.Errorf("after the resumed restore %d of %d files are whole", got, len(files))
	}
}

// A restore into an empty target on a disk without room for it is refused
// before anything is written, with the room it needs and the disk's free
// space; a part of the snapshot that fits (SNAPSHOT:PATH, --include) is
// checked for what it needs, not for the whole snapshot, and restores.
func TestRestoreRefusesTooSmallTarget(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	writeRandomTree(t, src, 100, 4, nil) // ~23 MB
	small := map[string][]byte{}
	for i := range 20 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
		name := fmt.Sprintf("s%02d.txt", i)
		mustWrite(t, filepath.Join(src, "small", name), b, 0o644)
		small[name] = b
	}
	e.ok("backup", src)
	mnt := mountTmpfs(t, 8<<20)
	target := filepath.Join(mnt, "out")
	r := e.run("restore", "latest", "--target", target)
	wantCode(t, r, exitFailure)
	for _, want := range []string{"too little free space", mnt, "needs about", "Nothing was written", "--no-space-check"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%v", want, r)
		}
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the refused restore created its target %s (%v)", target, err)
	}
	// The same into an existing empty directory: refused, and it stays empty.
	mustMkdirAll(t, target)
	wantCode(t, e.run("restore", "latest", "--target", target), exitFailure)
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Errorf("the refused restore wrote %d entries into %s", len(ents), target)
	}
	// What fits is restored: the small files alone, by path and by --include.
	e.ok("restore", "latest:"+filepath.Join(src, "small"), "--target", filepath.Join(mnt, "bypath"))
	if got := restoredWhole(t, filepath.Join(mnt, "bypath"), small); got != len(small) {
		t.Errorf("restore latest:PATH: %d of %d small files whole", got, len(small))
	}
	e.ok("restore", "latest", "--include", filepath.Join(src, "small"), "--target", filepath.Join(mnt, "byinclude"))
	if got := restoredWhole(t, filepath.Join(mnt, "byinclude", src, "small"), small); got != len(small) {
		t.Errorf("restore --include: %d of %d small files whole", got, len(small))
	}
}

// restoredWhole checks that every regular file under root is one of files
// (keyed by slash path relative to root) with exactly its content, and
// returns how many there are.
func restoredWhole(t *testing.T, root string, files map[string][]byte) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == root {
				return nil // nothing restored at all
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		want, ok := files[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("unexpected file %s in the target", rel)
			return nil
		}
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s in the target is not whole: %d bytes, %d of them as in the snapshot's %d", rel, len(got), commonPrefix(got, want), len(want))
			return nil
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func commonPrefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// A read-only target (a disk remounted read-only after errors, a backup
// disk mounted ro by mistake): one error that says so, instead of a warning
// for every directory and file (361,207 lines for 150,000 files before).
func TestRestoreTargetReadOnly(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	writeRandomTree(t, src, 30, 5, nil)
	e.ok("backup", src)
	mnt := mountTmpfs(t, 64<<20)
	target := filepath.Join(mnt, "out")
	mustMkdirAll(t, target)
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v\n%s", err, out)
	}
	r := e.run("restore", "latest", "--target", target)
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "restore target is read-only") || !strings.Contains(r.stderr, "read-only file system") || !strings.Contains(r.stderr, "--overwrite if-changed") {
		t.Errorf("want one error saying the target is read-only and how to go on:\n%v", r)
	}
	if n := strings.Count(r.stderr, "\n"); n > 3 || strings.Contains(r.stderr, "warning:") {
		t.Errorf("%d lines on stderr: want the one error, no warning per entry:\n%v", n, r)
	}
}

// Files the target refuses for a reason of its own (here an immutable
// directory on ext4: EPERM even for root) are reported as not written, with
// the repository's data named as not affected: not as "damaged", and not
// with advice to check the repository. The rest of the restore goes on.
func TestRestoreUnwrittenIsNotDamaged(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	files := map[string][]byte{}
	for _, d := range []string{"locked", "open"} {
		for i := range 3 {
			name := fmt.Sprintf("%s/f%d.txt", d, i)
			files[name] = []byte(strings.Repeat(name, 100))
			mustWrite(t, filepath.Join(src, filepath.FromSlash(name)), files[name], 0o644)
		}
	}
	e.ok("backup", src)
	mnt := mountExt4(t, 16<<20)
	target := filepath.Join(mnt, "out")
	locked := filepath.Join(target, src, "locked")
	mustMkdirAll(t, locked)
	if out, err := exec.Command("chattr", "+i", locked).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", locked).Run() })
	r := e.run("restore", "latest", "--target", target, "--overwrite", "if-changed")
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "3 file(s) could not be written to the target") || !strings.Contains(r.stderr, "not affected") {
		t.Errorf("want the 3 files of the immutable directory reported as not written:\n%v", r)
	}
	for _, wrong := range []string{"damaged", "check --read-data"} {
		if strings.Contains(r.stderr, wrong) {
			t.Errorf("stderr blames the repository (%q):\n%v", wrong, r)
		}
	}
	open := map[string][]byte{}
	for name, b := range files {
		if strings.HasPrefix(name, "open/") {
			open[strings.TrimPrefix(name, "open/")] = b
		}
	}
	if got := restoredWhole(t, filepath.Join(target, src, "open"), open); got != 3 {
		t.Errorf("%d of the 3 files beside the immutable directory restored", got)
	}
}

// A file system that reports no size (ramfs: zero blocks, zero free, and
// every write succeeds) is not judged by the free-space checks: backup,
// its cache and restore all work there. Before, backup refused ("Nothing
// was written. Free space on the backup disk"), the cache fell back to a
// temporary one, and restore refused ("has 0 B free").
func TestNoSizeFileSystemIsNotFull(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "ramfs")
	mountRamfs(t, dir)
	e.repo = filepath.Join(dir, "repo")
	e.cache = filepath.Join(dir, "cache")
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	files := writeRandomTree(t, src, 10, 6, nil)
	r := e.ok("backup", src)
	if strings.Contains(r.stderr, "free space") || strings.Contains(r.stderr, "temporary cache") {
		t.Errorf("a free-space check judged ramfs:\n%v", r)
	}
	e.ok("restore", "latest", "--target", filepath.Join(dir, "out"))
	if got := restoredWhole(t, filepath.Join(dir, "out", src), files); got != len(files) {
		t.Errorf("%d of %d files restored whole", got, len(files))
	}
}

// mountRamfs mounts a ramfs (no size, no extended attributes) on dir, a new
// directory, and unmounts it at the end of the test. Without root it
// skips, except under CI, where it fails.
func mountRamfs(t *testing.T, dir string) {
	t.Helper()
	mustMkdirAll(t, dir)
	if out, err := exec.Command("mount", "-t", "ramfs", "ramfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount ramfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a ramfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}
