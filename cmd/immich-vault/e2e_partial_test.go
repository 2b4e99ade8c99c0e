package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnreadableFilePartialSnapshot runs the backup as an unprivileged user
// (root reads everything) over a tree with an unreadable file and an
// unreadable directory: the run warns naming both, goes on, exits 3, and the
// snapshot is marked partial; everything else restores bit-identical.
func TestUnreadableFilePartialSnapshot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the backup runs as uid 65534 through setpriv")
	}
	base := sharedTempDir(t)
	e := newEnv(t)
	// Repository, cache, home and source all belong to the unprivileged user.
	e.dir = base
	e.repo = filepath.Join(base, "repo")
	e.cache = filepath.Join(base, "cache")
	e.home = filepath.Join(base, "home")
	src := filepath.Join(base, "src")
	mustMkdirAll(t, e.home)

	readable := map[string][]byte{
		"ok-1.txt":          []byte("readable one\n"),
		"ok-2.bin":          randomBytes(7, 300*kib),
		"sub/ok-3.txt":      []byte("readable three\n"),
		"zz-after/ok-4.bin": randomBytes(8, 2*mib),
	}
	for p, data := range readable {
		mustWrite(t, filepath.Join(src, p), data, 0o644)
	}
	secret := filepath.Join(src, "sub", "secret-unreadable.txt")
	mustWrite(t, secret, []byte("nobody may read this\n"), 0o644)
	lockedDir := filepath.Join(src, "locked-dir")
	mustWrite(t, filepath.Join(lockedDir, "hidden.txt"), []byte("inside a 0000 dir\n"), 0o644)
	chownTree(t, base, 65534, 65534)
	if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(lockedDir, 0); err != nil {
		t.Fatal(err)
	}

	nobody := opts{asNobody: true}
	e.okOpts(nobody, "init")
	sum, r := e.backupOpts(nobody, exitPartial, src)
	if !sum.Partial {
		t.Errorf("backup summary: partial=false for a run with unreadable files\n%v", r)
	}
	if sum.Errors < 1 {
		t.Errorf("backup summary: errors=%d, want >= 1\n%v", sum.Errors, r)
	}
	for _, p := range []string{secret, lockedDir} {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr does not name the unreadable path %q\n%v", p, r)
		}
	}

	// Root inspects and restores the repository with its own cache.
	e.cache = filepath.Join(e.dir, "root-cache")
	snaps := e.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("want 1 snapshot after a partial backup, got %d", len(snaps))
	}
	if !snaps[0].Partial {
		t.Errorf("snapshots --json: partial=false for the partial backup: %+v", snaps[0])
	}
	if snaps[0].ID != sum.SnapshotID && !strings.HasPrefix(snaps[0].ID, sum.SnapshotID) {
		t.Errorf("snapshots --json id %q does not match the backup summary's %q", snaps[0].ID, sum.SnapshotID)
	}
	if contains(e.lsPaths("latest"), secret) {
		t.Errorf("ls lists %q, which could not be read and must have been skipped", secret)
	}

	dst := filepath.Join(e.dir, "restore")
	e.ok("restore", "latest:"+src, "--target", dst)
	for p, want := range readable {
		got, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil {
			t.Errorf("restore of a readable file: %v", err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("restored %s differs from the source (%d vs %d bytes)", p, len(got), len(want))
		}
	}
}
