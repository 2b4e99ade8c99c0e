package main_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/pgtest"
)

// immichEnv is an Immich install on a real PostgreSQL cluster: a seeded
// database, its UPLOAD_LOCATION, an external library, .env and a compose
// file, and the docker test double first on PATH.
type immichEnv struct {
	*env
	c      *pgtest.Cluster
	f      *pgtest.ImmichFixture
	dir    string // Immich install dir (.env, docker-compose.yml)
	extra  []string
	docker string // log of the docker test double
}

func newImmichEnv(t *testing.T, db string) *immichEnv {
	c := pgtest.Start(t)
	e := newEnv(t)
	ie := &immichEnv{env: e, c: c, dir: filepath.Join(e.dir, "immich"), docker: filepath.Join(e.dir, "docker.log")}
	ie.f = pgtest.SeedImmich(t, c, db, filepath.Join(e.dir, "data"))
	mustMkdirAll(t, ie.dir)
	env := "UPLOAD_LOCATION=" + ie.f.Upload + "\nDB_DATA_LOCATION=./postgres\nIMMICH_VERSION=" + ie.f.ImmichVersion + "\nDB_PASSWORD=postgres\nDB_USERNAME=postgres\nDB_DATABASE_NAME=" + db + "\n"
	compose := `name: immich
services:
  immich-server:
    container_name: immich_server
    image: ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}
    volumes:
      - ${UPLOAD_LOCATION}:/data
      - /etc/localtime:/etc/localtime:ro
      - ` + ie.f.External + `:` + ie.f.ExternalContainer + `:ro
  database:
    container_name: immich_postgres
    image: ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0
`
	os.WriteFile(filepath.Join(ie.dir, ".env"), []byte(env), 0o600)
	os.WriteFile(filepath.Join(ie.dir, "docker-compose.yml"), []byte(compose), 0o644)
	ie.extra = append(c.Env(),
		"PATH="+pgtest.ShimDir()+":"+c.BinDir+":"+os.Getenv("PATH"),
		"PGTEST_BINDIR="+c.BinDir,
		"DOCKER_SHIM_LOG="+ie.docker,
	)
	return ie
}

func (ie *immichEnv) run(args ...string) result {
	ie.t.Helper()
	return ie.runOpts(opts{extraEnv: ie.extra}, args...)
}

func (ie *immichEnv) ok(args ...string) result {
	ie.t.Helper()
	r := ie.run(args...)
	if r.code != exitOK {
		ie.t.Fatalf("want exit code 0, got:\n%v", r)
	}
	return r
}

type verifyJSON struct {
	OK       bool `json:"ok"`
	Problems []struct {
		Kind     string `json:"kind"`
		HostPath string `json:"host_path"`
	} `json:"problems"`
	Hashed          int64    `json:"hashed_files"`
	CountMismatches []string `json:"count_mismatches"`
}

func decodeVerify(t *testing.T, r result) verifyJSON {
	t.Helper()
	var v verifyJSON
	if err := json.Unmarshal(lastJSONObject(t, r), &v); err != nil {
		t.Fatalf("decode verify: %v\n%v", err, r)
	}
	return v
}

// TestImmichBackupRestoreVerify is the end-to-end Immich workflow through
// the CLI: backup (docker mode through the test double, server stopped and
// started again) → wipe database and files → restore → verify passes; then
// one original deleted and another corrupted: verify names both.
func TestImmichBackupRestoreVerify(t *testing.T) {
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	metrics := filepath.Join(ie.env.dir, "immich_vault.prom")
	logf := filepath.Join(ie.env.dir, "immich-vault.log")
	cfgFile := filepath.Join(ie.env.dir, "config.yaml")
	os.WriteFile(cfgFile, []byte("# cron config\nimmich:\n  dir: "+ie.dir+"\n  quiesce: stop\nmetrics_file: "+metrics+"\nlog_file: "+logf+"\n"), 0o600)

	r := ie.ok("immich", "backup", "--config", cfgFile, "--json")
	var sum struct {
		SnapshotID string `json:"snapshot_id"`
		Immich     struct {
			ImmichVersion string   `json:"immich_version"`
			Components    []string `json:"components"`
			Counts        struct {
				Assets int64 `json:"assets"`
				Users  int64 `json:"users"`
				Albums int64 `json:"albums"`
			} `json:"counts"`
		} `json:"immich"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Immich.Counts.Assets != int64(ie.f.Assets) || sum.Immich.Counts.Users != 2 || sum.Immich.Counts.Albums != 2 || sum.Immich.ImmichVersion != ie.f.ImmichVersion {
		t.Errorf("summary: %+v", sum)
	}
	if got := strings.Join(sum.Immich.Components, ","); got != "database,upload_location,external_libraries,install_files" {
		t.Errorf("components %s", got)
	}
	if log, _ := os.ReadFile(ie.docker); !strings.Contains(string(log), "exec -i immich_postgres pg_dump") || !strings.HasSuffix(string(log), "start immich_server\n") {
		t.Errorf("docker calls:\n%s", log)
	}
	if m, _ := os.ReadFile(metrics); !strings.Contains(string(m), "immich_vault_backup_last_success_timestamp_seconds ") || !strings.Contains(string(m), "immich_vault_backup_exit_status 0\n") {
		t.Errorf("metrics:\n%s", m)
	}
	if l, _ := os.ReadFile(logf); !strings.Contains(string(l), "status=ok") {
		t.Errorf("log: %s", l)
	}
	// The record is visible in the generic listing too.
	if r := ie.ok("snapshots", "--json"); !strings.Contains(r.stdout, `"immich_version": "`+ie.f.ImmichVersion+`"`) {
		t.Errorf("snapshots --json lacks the immich record:\n%v", r)
	}
	ie.ok("immich", "snapshots")
	v := decodeVerify(t, ie.ok("immich", "verify", "--snapshot", "latest", "--checksums", "--json"))
	if !v.OK || v.Hashed != int64(ie.f.Assets) {
		t.Fatalf("snapshot verify: %+v", v)
	}

	// Disaster: database and files gone.
	ie.c.MustExec(t, "postgres", `DROP DATABASE immich WITH (FORCE)`)
	os.RemoveAll(ie.f.Upload)
	os.RemoveAll(ie.f.External)
	r = ie.ok("immich", "restore", "latest", "--immich-dir", ie.dir, "--external-root", "/")
	for _, want := range []string{"docker compose up -d", "IMMICH_VERSION=" + ie.f.ImmichVersion, "immich verify --live"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("next steps lack %q:\n%v", want, r)
		}
	}
	v = decodeVerify(t, ie.ok("immich", "verify", "--live", "--immich-dir", ie.dir, "--checksums", "--json"))
	if !v.OK || v.Hashed != int64(ie.f.Assets) {
		t.Fatalf("live verify after restore: %+v", v)
	}

	// One original deleted, another corrupted: both named.
	gone, bad := ie.f.Originals[2], ie.f.Originals[6] // legacy relative path; external library
	os.Remove(gone)
	os.WriteFile(bad, []byte("corrupted"), 0o644)
	r = ie.run("immich", "verify", "--live", "--immich-dir", ie.dir, "--checksums")
	wantCode(t, r, exitFailure)
	for _, w := range []string{"MISSING", gone, "CORRUPTED", bad} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("verify output lacks %q:\n%v", w, r)
		}
	}
	v = decodeVerify(t, ie.run("immich", "verify", "--live", "--immich-dir", ie.dir, "--checksums", "--json"))
	kinds := map[string]string{}
	for _, p := range v.Problems {
		kinds[p.HostPath] = p.Kind
	}
	if v.OK || len(v.Problems) != 2 || kinds[gone] != "missing" || kinds[bad] != "corrupted" {
		t.Errorf("problems: %+v", v.Problems)
	}

	// Restoring again: refused (non-empty target and database), nothing changed.
	r = ie.run("immich", "restore", "latest", "--immich-dir", ie.dir)
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "not empty") {
		t.Errorf("refusal message:\n%v", r)
	}
	r = ie.run("immich", "restore", "latest", "--immich-dir", ie.dir, "--skip-files")
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "--drop-existing") {
		t.Errorf("refusal message:\n%v", r)
	}
	// Resume-style repair of the files, database replaced.
	ie.ok("immich", "restore", "latest", "--immich-dir", ie.dir, "--overwrite", "if-changed", "--drop-existing", "--external-root", "/")
	v = decodeVerify(t, ie.ok("immich", "verify", "--live", "--immich-dir", ie.dir, "--checksums", "--json"))
	if !v.OK {
		t.Errorf("after repair: %+v", v)
	}
}

// A direct connection (PG* variables, no docker) works for backup, and a
// failing dump fails the backup without a snapshot and with a failure in
// the metrics file.
func TestImmichDirectModeAndFailedDump(t *testing.T) {
	ie := newImmichEnv(t, "photos")
	ie.initRepo()
	metrics := filepath.Join(ie.env.dir, "m.prom")
	ie.extra = append(ie.extra, "PGDATABASE=photos")
	ie.ok("immich", "backup", "--upload-location", ie.f.Upload, "--db-mode", "direct", "--metrics-file", metrics)
	r := ie.run("immich", "backup", "--upload-location", ie.f.Upload, "--db-mode", "direct", "--db-name", "nonexistent", "--metrics-file", metrics)
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "no snapshot was written") {
		t.Errorf("message:\n%v", r)
	}
	if m, _ := os.ReadFile(metrics); !strings.Contains(string(m), "immich_vault_backup_exit_status 1\n") || !strings.Contains(string(m), "last_success_timestamp_seconds") {
		t.Errorf("metrics after failure:\n%s", m)
	}
	var snaps []json.RawMessage
	json.Unmarshal([]byte(ie.ok("snapshots", "--json").stdout), &snaps)
	if len(snaps) != 1 {
		t.Errorf("%d snapshots, want 1", len(snaps))
	}
	// --require-mount: the repository is not on a mount at this directory.
	r = ie.run("immich", "backup", "--upload-location", ie.f.Upload, "--db-mode", "direct", "--require-mount", filepath.Join(ie.env.dir, "usb"))
	wantCode(t, r, exitNoRepo) // documented: 10, disk not mounted
	if !strings.Contains(r.stderr, "not on the required mount") {
		t.Errorf("require-mount:\n%v", r)
	}
}

// Ctrl-C during a backup with --quiesce stop: exit code 130, no snapshot,
// and immich_server is started again.
func TestImmichInterruptResumesServer(t *testing.T) {
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	cmd := exec.Command(binPath, "immich", "backup", "--immich-dir", ie.dir, "--quiesce", "stop", "--extra-command", "sleep 60")
	cmd.Env = append([]string{"HOME=" + ie.home, "IMMICH_VAULT_REPOSITORY=" + ie.repo, "IMMICH_VAULT_PASSWORD=" + ie.password, "IMMICH_VAULT_CACHE_DIR=" + ie.cache}, ie.extra...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, _ := os.ReadFile(ie.docker); strings.Contains(string(b), "pg_dump") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("backup never started the dump")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("want exit code 130, got %v\n%s", err, stderr.String())
	}
	if b, _ := os.ReadFile(ie.docker); !strings.HasSuffix(string(b), "start immich_server\n") {
		t.Errorf("immich_server not started again after Ctrl-C:\n%s", b)
	}
	var snaps []json.RawMessage
	json.Unmarshal([]byte(ie.ok("snapshots", "--json").stdout), &snaps)
	if len(snaps) != 0 {
		t.Errorf("%d snapshots after an interrupted backup", len(snaps))
	}
}
