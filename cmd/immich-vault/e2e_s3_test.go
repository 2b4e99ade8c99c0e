package main_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/s3test"
)

// s3Env is an env whose repository is a fresh bucket on a real S3 server.
func s3Env(t *testing.T, srv *s3test.Server) (*env, []string) {
	t.Helper()
	e := newEnv(t)
	e.repo = "s3:" + srv.Endpoint + "/" + srv.NewBucket(t) + "/vault"
	return e, srv.Env()
}

// s3Corpus writes incompressible "photos" (enough for several packs with
// the default pack size) plus small files.
func s3Corpus(t *testing.T, dir string, mib int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(mib)))
	for i := range mib / 4 {
		b := make([]byte, 4<<20)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		mustWrite(t, filepath.Join(dir, "photos", "img"+string(rune('a'+i))+".jpg"), b, 0o644)
	}
	mustWrite(t, filepath.Join(dir, "notes.txt"), []byte("hello S3\n"), 0o644)
	mustWrite(t, filepath.Join(dir, "db.sql"), bytes.Repeat([]byte("INSERT INTO asset VALUES (1);\n"), 5000), 0o600)
}

func TestS3InitBackupRestoreCheck(t *testing.T) {
	srv := s3test.StartT(t)
	e, awsEnv := s3Env(t, srv)
	o := opts{extraEnv: awsEnv}
	src := filepath.Join(e.dir, "src")
	s3Corpus(t, src, 40)
	e.okOpts(o, "init")
	e.okOpts(o, "backup", src)
	dst := filepath.Join(e.dir, "restore")
	e.okOpts(o, "restore", "latest:"+src, "--target", dst)
	compareTrees(t, src, dst, compareOpts{ignoreOwner: os.Geteuid() != 0})
	e.okOpts(o, "check", "--read-data")
	e.okOpts(o, "check", "--read-data-subset", "50%")
	// Incremental: nothing new is stored.
	sum, _ := e.backupOpts(o, exitOK, src)
	if sum.DataAdded != 0 {
		t.Errorf("second backup added %d bytes of data", sum.DataAdded)
	}
}

func TestS3WrongSecretKey(t *testing.T) {
	srv := s3test.StartT(t)
	e, awsEnv := s3Env(t, srv)
	e.okOpts(opts{extraEnv: awsEnv}, "init")
	start := time.Now()
	r := e.runOpts(opts{extraEnv: append(awsEnv, "AWS_SECRET_ACCESS_KEY=not-the-secret")}, "snapshots")
	if !wantCode(t, r, exitFailure) {
		return
	}
	if !strings.Contains(r.stderr, "S3 refused the credentials") || !strings.Contains(r.stderr, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("wrong secret: unclear message:\n%s", r.stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("wrong secret took %v: refused credentials must not be retried", d)
	}
}

// TestS3CopyRoundTrip: local → S3 (different password and key) → local
// (sharing the S3 repository's key material), bit-identical restores, and
// an incremental second copy that sends nothing.
func TestS3CopyRoundTrip(t *testing.T) {
	srv := s3test.StartT(t)
	local := newEnv(t)
	src := filepath.Join(local.dir, "src")
	s3Corpus(t, src, 12)
	local.initRepo()
	local.backup(exitOK, src)

	remote, awsEnv := s3Env(t, srv)
	o := opts{extraEnv: append(awsEnv, "IMMICH_VAULT_FROM_PASSWORD="+local.password)}
	remote.okOpts(o, "init")
	r := remote.okOpts(o, "--json", "copy", "--from-repo", local.repo)
	st := decodeJSON[map[string]any](t, r)
	if st["snapshots_copied"] != 1.0 || st["rehashed"] != true {
		t.Fatalf("copy local → S3: %s", r.stdout)
	}
	r = remote.okOpts(o, "--json", "copy", "--from-repo", local.repo)
	st = decodeJSON[map[string]any](t, r)
	if st["snapshots_copied"] != 0.0 || st["snapshots_skipped"] != 1.0 || st["blobs_copied"] != 0.0 {
		t.Fatalf("second copy is not a no-op: %s", r.stdout)
	}
	dst := filepath.Join(remote.dir, "restore")
	remote.okOpts(o, "restore", "latest:"+src, "--target", dst)
	compareTrees(t, src, dst, compareOpts{ignoreOwner: os.Geteuid() != 0})

	// S3 → a new local repository sharing the S3 repository's key material.
	back := newEnv(t)
	ob := opts{extraEnv: append(awsEnv, "IMMICH_VAULT_FROM_PASSWORD="+remote.password)}
	back.okOpts(ob, "init", "--copy-chunker-params-from", remote.repo)
	r = back.okOpts(ob, "--json", "copy", "--from-repo", remote.repo)
	st = decodeJSON[map[string]any](t, r)
	if st["snapshots_copied"] != 1.0 || st["rehashed"] != false {
		t.Fatalf("copy S3 → local (shared key): %s", r.stdout)
	}
	dst2 := filepath.Join(back.dir, "restore")
	back.okOpts(ob, "restore", "latest:"+src, "--target", dst2)
	compareTrees(t, src, dst2, compareOpts{ignoreOwner: os.Geteuid() != 0})
	back.okOpts(ob, "check", "--read-data")
}

// TestS3CopyKilledResumes kills a bandwidth-limited copy into S3 midway
// (SIGKILL: no cleanup at all), then finishes it with a second run.
func TestS3CopyKilledResumes(t *testing.T) {
	srv := s3test.StartT(t)
	local := newEnv(t)
	src := filepath.Join(local.dir, "src")
	s3Corpus(t, src, 24)
	local.initRepo()
	local.backup(exitOK, src)

	remote, awsEnv := s3Env(t, srv)
	o := opts{extraEnv: append(awsEnv, "IMMICH_VAULT_FROM_PASSWORD="+local.password)}
	remote.okOpts(o, "init")

	cmd := exec.Command(binPath, "--limit-upload", "8192", "copy", "--from-repo", local.repo)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + remote.home,
		"IMMICH_VAULT_REPOSITORY=" + remote.repo, "IMMICH_VAULT_PASSWORD=" + remote.password,
		"IMMICH_VAULT_CACHE_DIR=" + remote.cache,
	}, o.extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // 24 MiB at 8 MiB/s: about a third done
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("copy finished before it was killed; make the corpus bigger\n%s", stderr.String())
	}
	if snaps := remote.snapshotsOpts(o); len(snaps) != 0 {
		t.Fatalf("killed copy left %d snapshots", len(snaps))
	}
	remote.okOpts(o, "check")
	r := remote.okOpts(o, "--json", "copy", "--from-repo", local.repo)
	st := decodeJSON[map[string]any](t, r)
	if st["snapshots_copied"] != 1.0 {
		t.Fatalf("resumed copy: %s", r.stdout)
	}
	dst := filepath.Join(remote.dir, "restore")
	remote.okOpts(o, "restore", "latest:"+src, "--target", dst)
	compareTrees(t, src, dst, compareOpts{ignoreOwner: os.Geteuid() != 0})
	remote.okOpts(o, "check", "--read-data")
}

// snapshotsOpts lists snapshot IDs with options (the env's snapshots
// helper uses none).
func (e *env) snapshotsOpts(o opts) []map[string]any {
	e.t.Helper()
	r := e.okOpts(o, "--json", "snapshots")
	return decodeJSON[[]map[string]any](e.t, r)
}
