package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCopyKilledAfterFirstSnapshot: copy tells the destination's cache
// about the blobs it copied only at the end (repo.DeferredIndex). A copy
// SIGKILLed after its first snapshot was stored (its packs and index files
// stored, the cache not told) must leave a destination that the next copy
// completes, with every snapshot, and that check --read-data passes.
func TestCopyKilledAfterFirstSnapshot(t *testing.T) {
	src := newEnv(t)
	src.initRepo()
	for i := range 3 {
		d := filepath.Join(src.dir, fmt.Sprintf("s%d", i))
		mustMkdirAll(t, d)
		for j := range 4 {
			mustWrite(t, filepath.Join(d, fmt.Sprintf("f%d", j)), randomBytes(uint64(i*10+j+1), 12<<20), 0o644)
		}
		src.backup(0, d)
	}
	from := opts{extraEnv: []string{"IMMICH_VAULT_FROM_PASSWORD=" + src.password}}
	// The kill must land between the first and the last snapshot; on a
	// very loaded machine the poll may see the first one late: then try
	// again with a new destination (at most 3 times).
	var dst *env
	for attempt := 1; ; attempt++ {
		dst = newEnv(t)
		n := killCopyAfterFirstSnapshot(t, dst, src, from)
		if n >= 1 && n < 3 {
			break
		}
		if attempt == 3 {
			t.Fatalf("%d snapshots in the destination after the kill, want 1 or 2 (3 attempts)", n)
		}
		t.Logf("attempt %d: %d snapshots in the destination after the kill; trying again", attempt, n)
	}
	dst.okOpts(from, "copy", "--from-repo", src.repo)
	if got := dst.snapshots(); len(got) != 3 {
		t.Fatalf("%d snapshots after the second copy, want 3", len(got))
	}
	dst.ok("check", "--read-data")
	// A third run has nothing left to send.
	r := dst.okOpts(from, "copy", "--from-repo", src.repo)
	t.Logf("third copy: %s", r.stdout)
}

// hasHexName reports whether a stored file (named by its ID, not a
// temporary file) is among ents.
func hasHexName(ents []os.DirEntry) bool {
	for _, e := range ents {
		if isHexID(e.Name()) {
			return true
		}
	}
	return false
}

// killCopyAfterFirstSnapshot starts copy from src into a new repository in
// dst, SIGKILLs it as soon as its first snapshot is stored, and returns
// the number of snapshots in dst then.
func killCopyAfterFirstSnapshot(t *testing.T, dst, src *env, from opts) int {
	t.Helper()
	dst.okOpts(from, "init", "--copy-chunker-params-from", src.repo)

	cmd := exec.Command(binPath, "copy", "--from-repo", src.repo)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dst.home, "TMPDIR=" + os.TempDir(),
		"IMMICH_VAULT_REPOSITORY=" + dst.repo, "IMMICH_VAULT_PASSWORD=" + dst.password,
		"IMMICH_VAULT_CACHE_DIR=" + dst.cache, "IMMICH_VAULT_FROM_PASSWORD=" + src.password}
	out, err := os.Create(filepath.Join(dst.dir, "copy.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	snapDir := filepath.Join(dst.repo, "snapshots")
	deadline := time.Now().Add(5 * time.Minute)
	killed := false
	for !killed && time.Now().Before(deadline) {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(out.Name())
			t.Logf("copy ended (%v) before it was killed:\n%s", err, b)
			return len(dst.snapshots())
		default:
		}
		if ents, _ := os.ReadDir(snapDir); hasHexName(ents) {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		time.Sleep(time.Millisecond)
	}
	if !killed {
		t.Fatal("no snapshot was copied within 5 minutes")
	}
	<-exited
	return len(dst.snapshots())
}
