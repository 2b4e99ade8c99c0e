package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/immich-vault/immich-vault/ops"
)

// TestOpsPlainBackupSourceBound: the free-space preflight does not walk
// the source when the used bytes of its file systems fit the repository:
// a source on a tmpfs holding a sparse file whose size exceeds the
// repository's free space (but whose blocks are nearly all holes) is
// backed up, where the walk (forced by the test hook) refuses it.
func TestOpsPlainBackupSourceBound(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	p := newOpsPlain(t)
	if err := syscall.Mount("tmpfs", p.src, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatalf("mount a tmpfs on the source: %v", err)
	}
	defer syscall.Unmount(p.src, syscall.MNT_DETACH)
	mustWrite(t, filepath.Join(p.src, "a.txt"), []byte("hello"), 0o644)
	// The repository moves onto a small tmpfs, so that "larger than its
	// free space" is a file the backup reads in seconds.
	small := filepath.Join(p.dir, "small")
	mustMkdirAll(t, small)
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=256m"); err != nil {
		t.Fatalf("mount a tmpfs for the repository: %v", err)
	}
	defer syscall.Unmount(small, syscall.MNT_DETACH)
	if out, err := exec.Command("cp", "-a", p.repo+"/.", small).CombinedOutput(); err != nil {
		t.Fatalf("copy the repository: %v\n%s", err, out)
	}
	if err := syscall.Mount(small, p.repo, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind the small tmpfs over the repository: %v", err)
	}
	defer syscall.Unmount(p.repo, syscall.MNT_DETACH)
	free, err := ops.FreeSpace(p.repo)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(filepath.Join(p.src, "huge.img"))
	if err != nil {
		t.Fatal(err)
	}
	if free > 256<<20 {
		t.Fatalf("the repository's file system has %d bytes free, want at most 256 MiB (the tmpfs)", free)
	}
	if err := fh.Truncate(int64(free) + 64<<20); err != nil {
		fh.Close()
		t.Fatalf("sparse file of %d bytes on a tmpfs: %v", free+64<<20, err)
	}
	fh.Close()

	p.extraEnv = []string{"IMMICH_VAULT_TEST_NO_SOURCE_BOUND=1"}
	r := p.exec(nil, "backup")
	p.extraEnv = nil
	if wantCode(t, r, 1) && !strings.Contains(r.stderr, "--no-space-check") {
		t.Errorf("the walk's refusal does not say what to do:\n%v", r)
	}
	if n := len(p.snapshots()); n != 0 {
		t.Fatalf("%d snapshots after a refused backup", n)
	}
	// With the bound: the tmpfs holds a few KiB, so no walk and no
	// refusal; the holes deduplicate to one blob.
	if r := p.exec(nil, "backup"); wantCode(t, r, 0) {
		p.wantRecorded("backup", 0, true)
	}
}
