package main_test

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// immich restore onto a disk too small for the library: refused before
// anything is restored; with --no-space-check it stops with the target's
// disk named as full, before the database is loaded (a database
// whose files are not there would show a broken library), and exits 1.
// Before, the files step's problems were not looked at: `immich restore`
// loaded the database and exited 0 with the library's files missing or
// half written. Once there is room, the same command resumes and the live
// verify passes.
func TestImmichRestoreTargetFull(t *testing.T) {
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	big := make([]byte, 3<<20) // larger than the target below
	rand.Read(big)
	mustWrite(t, filepath.Join(ie.f.Upload, "library", "admin", "2024", "2024-06-02", "VID_big.mp4"), big, 0o644)
	ie.ok("immich", "backup", "--immich-dir", ie.dir)

	// Disaster: database and files gone; the new disk is small.
	ie.c.MustExec(t, "postgres", `DROP DATABASE immich WITH (FORCE)`)
	os.RemoveAll(ie.f.Upload)
	mnt := mountTmpfs(t, 1<<20)
	target := filepath.Join(mnt, "upload")
	// Refused up front: the disk has less room than the files need.
	r := ie.run("immich", "restore", "latest", "--immich-dir", ie.dir, "--target", target)
	wantCode(t, r, exitFailure)
	for _, want := range []string{"too little free space", "nothing was restored", "--no-space-check"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal does not say %q:\n%v", want, r)
		}
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the refused restore created %s (%v)", target, err)
	}
	// Past the check, the disk fills up during the restore.
	r = ie.run("immich", "restore", "latest", "--immich-dir", ie.dir, "--target", target, "--no-space-check")
	t.Logf("small target:\n%v", r)
	wantCode(t, r, exitFailure)
	for _, want := range []string{"restore target is full", "the database was not loaded", "--overwrite if-changed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "restored the database") {
		t.Errorf("the database was loaded although the files are not all there:\n%v", r)
	}
	if out := ie.c.MustExec(t, "postgres", `SELECT count(*) FROM pg_database WHERE datname = 'immich'`); strings.TrimSpace(out) != "0" {
		t.Errorf("database immich exists after the stopped restore (count %q)", out)
	}

	// Room again: the same command, resumed, restores files and database.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v\n%s", err, out)
	}
	ie.ok("immich", "restore", "latest", "--immich-dir", ie.dir, "--target", target, "--overwrite", "if-changed")
	got, err := os.ReadFile(filepath.Join(target, "library", "admin", "2024", "2024-06-02", "VID_big.mp4"))
	if err != nil || string(got) != string(big) {
		t.Errorf("the large file after the resumed restore: %d bytes, err %v", len(got), err)
	}
	if out := ie.c.MustExec(t, "immich", `SELECT count(*) FROM asset`); strings.TrimSpace(out) == "0" {
		t.Errorf("the database holds no assets after the resumed restore (%q)", out)
	}
}
