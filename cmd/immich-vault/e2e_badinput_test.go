package main_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// smallTree writes n files of distinct random content under src and returns
// their contents by absolute path.
func smallTree(t *testing.T, src string, n, size int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range n {
		p := filepath.Join(src, fmt.Sprintf("dir-%d", i%3), fmt.Sprintf("file-%02d.bin", i))
		data := randomBytes(uint64(7000+i), size+i*1013)
		mustWrite(t, p, data, 0o644)
		files[p] = data
	}
	return files
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	smallTree(t, src, 5, 10*kib)
	e.initRepo()
	e.backup(exitOK, src)
	mustWrite(t, filepath.Join(src, "new-file.txt"), []byte("would be new\n"), 0o644)

	newPW := filepath.Join(e.dir, "new-password")
	mustWrite(t, newPW, []byte("another password\n"), 0o600)
	before := fileListing(t, e.repo)
	wrong := opts{password: strPtr("not the password")}
	for _, args := range [][]string{
		{"snapshots"},
		{"ls", "latest"},
		{"backup", src},
		{"check"},
		{"restore", "latest", "--target", filepath.Join(e.dir, "restore")},
		{"key", "add", "--new-password-file", newPW},
	} {
		r := e.runOpts(wrong, args...)
		if wantCode(t, r, exitBadPassword) && !strings.Contains(strings.ToLower(r.stderr), "password") {
			t.Errorf("wrong-password error does not mention the password:\n%v", r)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "restore")); err == nil {
		t.Error("restore with a wrong password created the target directory")
	}
	if after := fileListing(t, e.repo); after != before {
		t.Errorf("the repository changed after wrong-password runs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// And the right password still works, with the one snapshot.
	if n := len(e.snapshots()); n != 1 {
		t.Errorf("want 1 snapshot, got %d", n)
	}
}

func TestNoPasswordNoTerminal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.initRepo()
	r := e.runOpts(opts{password: strPtr("")}, "snapshots")
	wantCode(t, r, exitFailure)
}

func TestNotARepository(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	empty := filepath.Join(e.dir, "empty-dir")
	mustMkdirAll(t, empty)
	other := filepath.Join(e.dir, "some-files")
	mustWrite(t, filepath.Join(other, "config"), []byte("not a repository config\n"), 0o644)
	mustWrite(t, filepath.Join(other, "notes.txt"), []byte("hello\n"), 0o644)
	missing := filepath.Join(e.dir, "does", "not", "exist")
	file := filepath.Join(e.dir, "a-file")
	mustWrite(t, file, []byte("x"), 0o644)

	for _, repo := range []string{empty, other, missing, file} {
		var before string
		if repo != missing {
			before = fileListing(t, repo)
		}
		for _, args := range [][]string{{"snapshots"}, {"backup", other}, {"check"}} {
			r := e.runOpts(opts{noRepoEnv: true}, append([]string{"-r", repo}, args...)...)
			wantCode(t, r, exitNoRepo)
		}
		if repo == missing {
			if _, err := os.Lstat(missing); err == nil {
				t.Errorf("commands against a missing repository created %s", missing)
			}
		} else if after := fileListing(t, repo); after != before {
			t.Errorf("commands against the non-repository %s wrote to it:\nbefore:\n%s\nafter:\n%s", repo, before, after)
		}
	}
	// Through the environment variable too.
	e.repo = missing
	wantCode(t, e.run("snapshots"), exitNoRepo)
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("a command against a missing repository created %s", missing)
	}
}

func TestUnknownFormatVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.initRepo()
	marker := filepath.Join(e.repo, "immich-vault")
	orig := mustRead(t, marker)
	if !strings.Contains(string(orig), `"immich-vault"`) {
		t.Fatalf("marker file does not look like the specified JSON: %q", orig)
	}
	mustWrite(t, marker, []byte(`{"format":"immich-vault","version":99}`+"\n"), 0o600)
	for _, args := range [][]string{{"snapshots"}, {"check"}} {
		r := e.run(args...)
		if wantFailure(t, r) {
			out := strings.ToLower(r.output())
			if !strings.Contains(out, "99") || !strings.Contains(out, "version") {
				t.Errorf("refusal of format version 99 does not name the version:\n%v", r)
			}
		}
	}
	// A second init must not clobber it either.
	wantCode(t, e.run("init"), exitFailure)
}

// damagedPack picks the largest file under <repo>/data (a data pack) and
// flips one byte in its middle.
func damagePack(t *testing.T, repo string) string {
	t.Helper()
	type f struct {
		path string
		size int64
	}
	var packs []f
	err := filepath.WalkDir(filepath.Join(repo, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			packs = append(packs, f{p, fi.Size()})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(packs) == 0 {
		t.Fatal("no pack files under data/")
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].size > packs[j].size })
	p := packs[0]
	if err := os.Chmod(p.path, 0o600); err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(p.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := make([]byte, 1)
	off := p.size / 2
	if _, err := fh.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return p.path
}

var blobIDRe = regexp.MustCompile(`\b[0-9a-f]{8,64}\b`)

// TestCorruptPack flips a byte in a data pack: check --read-data fails and
// names a blob, the affected file(s) and the snapshot; restore brings back
// every other file bit-identical and exits non-zero.
func TestCorruptPack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	// 24 distinct incompressible files of ~100 KiB: one small data pack in
	// which the middle byte belongs to exactly one file's blob.
	files := smallTree(t, src, 24, 100*kib)
	e.initRepo()
	sum, _ := e.backup(exitOK, src)
	snaps := e.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("want 1 snapshot, got %d", len(snaps))
	}
	wantCode(t, e.run("check", "--read-data"), exitOK)

	pack := damagePack(t, e.repo)
	t.Logf("flipped a byte in the middle of %s", pack)

	r := e.run("check", "--read-data")
	wantCode(t, r, exitFailure)
	out := r.output()
	t.Logf("check --read-data on the damaged repository:\n%s", out)
	if !blobIDRe.MatchString(out) {
		t.Errorf("check output names no blob id (hex):\n%v", r)
	}
	var affected []string
	for p := range files {
		if strings.Contains(out, p) {
			affected = append(affected, p)
		}
	}
	if len(affected) == 0 {
		t.Errorf("check output names none of the backed-up files as affected:\n%v", r)
	}
	if len(affected) > 3 {
		t.Errorf("check names %d files as affected by one flipped byte: %q", len(affected), affected)
	}
	if !strings.Contains(out, snaps[0].ShortID) && !strings.Contains(out, sum.SnapshotID) {
		t.Errorf("check output does not name the affected snapshot %s:\n%v", snaps[0].ShortID, r)
	}

	dst := filepath.Join(e.dir, "restore")
	rr := e.run("restore", "latest", "--target", dst)
	wantCode(t, rr, exitFailure)
	reported := 0
	for _, p := range affected {
		if strings.Contains(rr.output(), p) {
			reported++
		}
	}
	if len(affected) > 0 && reported == 0 {
		t.Errorf("restore does not report any of the damaged files %q:\n%v", affected, rr)
	}
	isAffected := map[string]bool{}
	for _, p := range affected {
		isAffected[p] = true
	}
	restoredOK := 0
	for p, want := range files {
		if isAffected[p] {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil {
			t.Errorf("unaffected file not restored: %v", err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("unaffected file %s restored with different content", p)
			continue
		}
		restoredOK++
	}
	t.Logf("%d affected files, %d unaffected files restored bit-identical", len(affected), restoredOK)
}

func TestRestoreIntoNonEmptyTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	files := smallTree(t, src, 4, 5*kib)
	e.initRepo()
	e.backup(exitOK, src)

	dst := filepath.Join(e.dir, "restore")
	existing := filepath.Join(dst, "existing.txt")
	mustWrite(t, existing, []byte("precious, do not touch\n"), 0o600)
	// A file at the same relative path as one in the snapshot.
	var clash string
	for p := range files {
		clash = p
		break
	}
	rel, _ := filepath.Rel(src, clash)
	clashDst := filepath.Join(dst, rel)
	mustWrite(t, clashDst, []byte("local version\n"), 0o600)
	before := fileListing(t, dst)

	r := e.run("restore", "latest:"+src, "--target", dst)
	if wantCode(t, r, exitFailure) && !strings.Contains(r.output(), "--overwrite") {
		t.Errorf("refusal does not mention --overwrite:\n%v", r)
	}
	if after := fileListing(t, dst); after != before {
		t.Errorf("a refused restore changed the target:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := string(mustRead(t, clashDst)); got != "local version\n" {
		t.Errorf("a refused restore overwrote %s: %q", clashDst, got)
	}

	// With a policy the restore proceeds and leaves unrelated files alone.
	e.ok("restore", "latest:"+src, "--target", dst, "--overwrite", "always")
	if got := string(mustRead(t, existing)); got != "precious, do not touch\n" {
		t.Errorf("restore --overwrite always touched a file that is not in the snapshot: %q", got)
	}
	for p, want := range files {
		rel, _ := filepath.Rel(src, p)
		if got := mustRead(t, filepath.Join(dst, rel)); string(got) != string(want) {
			t.Errorf("after restore --overwrite always, %s differs from the snapshot", rel)
		}
	}
}
