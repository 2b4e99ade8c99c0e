package main_test

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/ops"
)

// repoListing lists every file under dir with its size, sorted.
func repoListing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %d", rel, fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestSpaceRefusalWritesNothing: a backup with 8 MiB of new random files
// whose free-space check (ops_plain.go spaceGate, forced by the test hook)
// counts, in the backup's walk ahead, a sparse file larger than the free
// space is refused with the check's own message and leaves the
// repository's files exactly as they were: no pack, no temporary pack
// file, no index, no snapshot, no lock. With the sparse file gone, the
// same forced check lets the backup and a no-change backup through. (It
// also guarded the first walk-beside-the-backup variant, 5e1910b,
// reverted: without its pack gate it failed; the gate is
// archiver/spacegate.go.)
func TestSpaceRefusalWritesNothing(t *testing.T) {
	p := newOpsPlain(t)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 8 {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		mustWrite(t, filepath.Join(p.src, "new", string(rune('a'+i))+".bin"), b, 0o644)
	}
	before := repoListing(t, p.repo)

	big := filepath.Join(p.src, "zz", "huge.img")
	mustMkdirAll(t, filepath.Dir(big))
	sparseBeyondFree(t, p.repo, big)
	// Force the walk: without the hook the used-bytes bound may clear it.
	p.extraEnv = []string{"IMMICH_VAULT_TEST_NO_SOURCE_BOUND=1"}
	defer func() { p.extraEnv = nil }()
	r := p.exec(nil, "backup")
	if wantCode(t, r, 1) {
		if !strings.Contains(r.stderr, "No data was written") || !strings.Contains(r.stderr, "--no-space-check") || strings.Contains(r.stderr, "backup failed") {
			t.Errorf("the refusal is not the preflight's own message:\n%v", r)
		}
	}
	after := repoListing(t, p.repo)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("the refused backup changed the repository's files:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}

	if err := os.Remove(big); err != nil {
		t.Fatal(err)
	}
	if r := p.exec(nil, "backup"); wantCode(t, r, 0) {
		if n := len(p.snapshots()); n != 1 {
			t.Errorf("%d snapshots after the walk passed, want 1", n)
		}
	}
	if r := p.exec(nil, "backup"); wantCode(t, r, 0) {
		if n := len(p.snapshots()); n != 2 {
			t.Errorf("%d snapshots after a no-change backup behind the walk, want 2", n)
		}
	}

	// An Immich upload after the parent: Immich sets the original's
	// modification time to the photo's own, years old (utimes after the
	// upload). The check counted files by modification time alone and let
	// such a night's import through, however large; the ctime says the
	// file is new.
	refusesOldUpload(t, p, "IMG_0001.MP4")
	if n := len(p.snapshots()); n != 2 {
		t.Errorf("%d snapshots after the refusal, want 2", n)
	}
}

// TestSpaceCheckParentFromAClockAhead: the parent snapshot was taken by a
// clock 30 minutes ahead of this machine's (a container with the same
// hostname and its own clock; IMMICH_VAULT_TEST_CLOCK_AHEAD times it).
// A file uploaded after it, larger than the free space, has a ctime before
// the parent's time by this machine's clock: counted from the parent's
// time it was invisible to the free-space check and the backup went on;
// the check counts from an hour before the parent (ops.SpaceSince) and
// refuses it, writing nothing.
func TestSpaceCheckParentFromAClockAhead(t *testing.T) {
	p := newOpsPlain(t)
	mustWrite(t, filepath.Join(p.src, "a.txt"), []byte("before"), 0o644)
	p.extraEnv = []string{"IMMICH_VAULT_TEST_NO_SOURCE_BOUND=1", "IMMICH_VAULT_TEST_CLOCK_AHEAD=30m"}
	defer func() { p.extraEnv = nil }()
	if r := p.exec(nil, "backup"); !wantCode(t, r, 0) {
		return
	}
	p.extraEnv = []string{"IMMICH_VAULT_TEST_NO_SOURCE_BOUND=1"}
	refusesOldUpload(t, p, "IMG_0002.MP4")
}

// refusesOldUpload "uploads" name as Immich does, after the last backup:
// a file larger than the repository's free space whose modification time
// Immich set to the photo's own (2015). The next backup must be refused
// by the free-space check and leave the repository's files as they were.
func refusesOldUpload(t *testing.T, p *opsPlain, name string) {
	t.Helper()
	upload := filepath.Join(p.src, "library", "admin", "2015", "2015-06-01", name)
	mustMkdirAll(t, filepath.Dir(upload))
	sparseBeyondFree(t, p.repo, upload)
	taken := time.Date(2015, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(upload, taken, taken); err != nil {
		t.Fatal(err)
	}
	before := repoListing(t, p.repo)
	r := p.exec(nil, "backup")
	if wantCode(t, r, 1) && !strings.Contains(r.stderr, "No data was written") {
		t.Errorf("an upload with an old modification time: not the free-space refusal:\n%v", r)
	}
	if after := repoListing(t, p.repo); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("the refused backup of the upload changed the repository's files:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// sparseBeyondFree creates path as a sparse file 1 GiB larger than the
// free space of dir's file system (the test is skipped where that cannot
// be made): the free-space walk counts its size, its blocks cost nothing.
func sparseBeyondFree(t *testing.T, dir, path string) {
	t.Helper()
	free, err := ops.FreeSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := fh.Truncate(int64(free) + 1<<30); err != nil {
		t.Skipf("cannot make a sparse file of %d bytes here: %v", free+1<<30, err)
	}
}
