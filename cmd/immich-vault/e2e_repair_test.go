package main_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// largestPack returns the path of the largest file under <repo>/data.
func largestPack(t *testing.T, repo string) string {
	t.Helper()
	var best string
	var bestSize int64 = -1
	err := filepath.WalkDir(filepath.Join(repo, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() > bestSize {
			best, bestSize = p, fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if best == "" {
		t.Fatal("no pack files under data/")
	}
	return best
}

// adviceRe finds the commands check's advice names: `immich-vault ARGS`.
var adviceRe = regexp.MustCompile("`immich-vault ([^`]+)`")

// followAdvice runs, in order and literally, every `immich-vault ...`
// command named in r's output, and returns the results.
func (e *env) followAdvice(r result) []result {
	e.t.Helper()
	var out []result
	for _, m := range adviceRe.FindAllStringSubmatch(r.output(), -1) {
		args := strings.Fields(m[1])
		rr := e.run(args...)
		e.t.Logf("following check's advice: immich-vault %s -> exit %d\n%s", m[1], rr.code, rr.output())
		out = append(out, rr)
	}
	return out
}

// damagedNames lists the paths of a snapshot that repair renamed *.damaged.
func (e *env) damagedNames(snap string) []string {
	e.t.Helper()
	var out []string
	for _, p := range e.lsPaths(snap) {
		if strings.Contains(p, ".damaged") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// TestRepairKeepsBlobsOfPackWithDamagedTrailer is the regression test of
// issue 11 item 2: four damaged bytes in a pack's trailer (its header
// length) leave every blob intact, and restore works through the index.
// Following check --read-data's advice literally must not lose a single
// file: no file becomes *.damaged, and restore stays bit-identical.
func TestRepairKeepsBlobsOfPackWithDamagedTrailer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	smallTree(t, src, 24, 100*kib)
	e.initRepo()
	e.backup(exitOK, src)
	snaps := e.snapshots()

	p := largestPack(t, e.repo)
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	b := mustRead(t, p)
	copy(b[len(b)-4:], []byte{0xff, 0xff, 0xff, 0x7f})
	mustWrite(t, p, b, 0o600)
	t.Logf("overwrote the 4-byte header length of %s", filepath.Base(p))

	// The data is intact: restore works before any repair.
	dst := filepath.Join(e.dir, "restore-before")
	e.ok("restore", "latest", "--target", dst)
	compareTrees(t, src, filepath.Join(dst, src), compareOpts{})

	// A copy for the advice check printed before the fix (repair index
	// --read-data, then repair snapshots): it must be safe too.
	e2 := newEnv(t)
	e2.password = e.password
	copyDir(t, e.repo, e2.repo)

	r := e.run("check", "--read-data")
	wantCode(t, r, exitFailure)
	t.Logf("check --read-data:\n%s", r.output())
	if !strings.Contains(r.output(), filepath.Base(p)[:8]) {
		t.Errorf("check does not name the damaged pack %s:\n%v", filepath.Base(p)[:8], r)
	}
	advice := e.followAdvice(r)
	if len(advice) == 0 {
		t.Fatalf("check gives no command to run:\n%v", r)
	}
	for _, a := range advice {
		wantCode(t, a, exitOK)
	}

	after := e.snapshots()
	if len(after) != len(snaps) {
		t.Fatalf("%d snapshots before, %d after following check's advice", len(snaps), len(after))
	}
	if d := e.damagedNames("latest"); len(d) > 0 {
		t.Errorf("following check's advice renamed %d intact files *.damaged: %q", len(d), d)
	}
	dst = filepath.Join(e.dir, "restore-after")
	e.ok("restore", "latest", "--target", dst)
	compareTrees(t, src, filepath.Join(dst, src), compareOpts{})
	// The damage is healed: check passes, and after prune too.
	wantCode(t, e.run("check", "--read-data"), exitOK)
	e.ok("prune")
	wantCode(t, e.run("check", "--read-data"), exitOK)
	dst = filepath.Join(e.dir, "restore-pruned")
	e.ok("restore", "latest", "--target", dst)
	compareTrees(t, src, filepath.Join(dst, src), compareOpts{})

	e2.ok("repair", "index", "--read-data")
	e2.ok("repair", "snapshots")
	if d := e2.damagedNames("latest"); len(d) > 0 {
		t.Errorf("repair index --read-data + repair snapshots renamed %d intact files *.damaged: %q", len(d), d)
	}
	dst = filepath.Join(e2.dir, "restore")
	e2.ok("restore", "latest", "--target", dst)
	compareTrees(t, src, filepath.Join(dst, src), compareOpts{})
	wantCode(t, e2.run("check", "--read-data"), exitOK)
}
