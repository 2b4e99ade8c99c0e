package main_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/s3test"
	"github.com/immich-vault/immich-vault/ops"
)

// pingLog is a healthchecks.io/ntfy stand-in: it records every request
// ("METHOD /path body") and answers 200, as both services do.
type pingLog struct {
	mu   sync.Mutex
	reqs []string
	srv  *httptest.Server
}

func newPingLog(t *testing.T) *pingLog {
	p := &pingLog{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Method+" "+r.URL.Path+" title="+r.Header.Get("Title")+" "+string(b))
		p.mu.Unlock()
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pingLog) all() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.reqs, "\n---\n")
}

// runEnv is an Immich install (real PostgreSQL, docker double) whose
// configuration file names a local repository, an offsite repository on a
// real S3 server, metrics, a log and monitors.
type runEnv struct {
	*immichEnv
	cfg, metrics, logf string
	offsite            string // s3: location
	aws                []string
	ping               *pingLog
}

func newRunEnv(t *testing.T, extraYAML string) *runEnv {
	srv := s3test.StartT(t)
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	re := &runEnv{immichEnv: ie, cfg: filepath.Join(ie.env.dir, "config.yaml"), metrics: filepath.Join(ie.env.dir, "iv.prom"),
		logf: filepath.Join(ie.env.dir, "iv.log"), aws: srv.Env(), ping: newPingLog(t)}
	re.offsite = "s3:" + srv.Endpoint + "/" + srv.NewBucket(t) + "/offsite"
	mustWrite(t, filepath.Join(ie.env.dir, "password"), []byte(ie.password+"\n"), 0o600)
	mustWrite(t, filepath.Join(ie.env.dir, "offsite-password"), []byte("offsite secret\n"), 0o600)
	y := `repository: ` + ie.repo + `
password_file: ` + filepath.Join(ie.env.dir, "password") + `
immich:
  dir: ` + ie.dir + `
  quiesce: stop
  state_dir: ` + filepath.Join(ie.env.dir, "state") + `
retention:
  keep_last: 2
prune:
  every: always
check:
  read_data_subset: 100%
copy:
  - name: offsite
    repository: ` + re.offsite + `
    password_file: ` + filepath.Join(ie.env.dir, "offsite-password") + `
notify:
  healthchecks: ` + re.ping.srv.URL + `/ping/uuid-1
  webhooks:
    - url: ` + re.ping.srv.URL + `/ntfy/topic
      on: [success, failure]
metrics_file: ` + re.metrics + `
log_file: ` + re.logf + `
` + extraYAML
	mustWrite(t, re.cfg, []byte(y), 0o600)
	return re
}

// exec runs the binary with the configuration file and no password in the
// environment: the configuration's password_file must be what is used.
func (re *runEnv) exec(args ...string) result {
	re.t.Helper()
	return re.runOpts(opts{password: strPtr(""), extraEnv: append(append([]string{}, re.extra...), append(re.aws, "IMMICH_VAULT_CONFIG="+re.cfg)...)}, args...)
}

func (re *runEnv) initOffsite() {
	re.t.Helper()
	r := re.runOpts(opts{password: strPtr(""), extraEnv: append(re.aws, "IMMICH_VAULT_FROM_PASSWORD="+re.password)},
		"-r", re.offsite, "--password-file", filepath.Join(re.env.dir, "offsite-password"), "init", "--copy-chunker-params-from", re.repo)
	if r.code != 0 {
		re.t.Fatalf("init offsite:\n%v", r)
	}
}

func (re *runEnv) offsiteSnapshots() int {
	re.t.Helper()
	r := re.runOpts(opts{password: strPtr(""), extraEnv: re.aws}, "-r", re.offsite, "--password-file", filepath.Join(re.env.dir, "offsite-password"), "snapshots", "--json")
	if r.code != 0 {
		re.t.Fatalf("offsite snapshots:\n%v", r)
	}
	return len(decodeJSON[[]map[string]any](re.t, r))
}

func metricsOf(t *testing.T, path string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("metrics file: %v", err)
	}
	return ops.ParseMetrics(b)
}

// TestRunNightlyImmichS3 is the whole nightly job in one command against a
// real PostgreSQL (Immich database) and a real S3 server: backup (Immich
// stopped and started again), forget by policy, prune, check reading the
// data, copy offsite; three nights in a row.
func TestRunNightlyImmichS3(t *testing.T) {
	re := newRunEnv(t, "")
	re.initOffsite()
	if r := re.exec("config", "validate", "--open"); r.code != 0 {
		t.Fatalf("config validate --open:\n%v", r)
	}
	for night := 1; night <= 3; night++ {
		r := re.exec("run")
		if r.code != 0 {
			t.Fatalf("night %d: run:\n%v", night, r)
		}
		for _, step := range []string{"backup ok", "forget ok", "prune ok", "check ok", "copy:offsite ok"} {
			if !strings.Contains(r.stdout, "run: "+step) {
				t.Errorf("night %d: no %q in the report:\n%v", night, step, r)
			}
		}
	}
	// forget kept 2 immich snapshots; prune deleted the third's data; the
	// offsite copy is kept by the same policy (it used to keep every
	// snapshot ever copied), and pruned there too.
	if n := len(re.snapshots()); n != 2 {
		t.Errorf("local repository holds %d snapshots, want 2 (keep_last: 2)", n)
	}
	if n := re.offsiteSnapshots(); n != 2 {
		t.Errorf("offsite holds %d snapshots, want 2 (keep_last: 2 applies offsite too)", n)
	}
	if r := re.runOpts(opts{password: strPtr(""), extraEnv: re.aws}, "-r", re.offsite, "--password-file", filepath.Join(re.env.dir, "offsite-password"), "check", "--read-data"); r.code != 0 {
		t.Errorf("offsite check --read-data after its prune:\n%v", r)
	}
	re.ok("check", "--read-data")
	if log, _ := os.ReadFile(re.docker); strings.Count(string(log), "stop immich_server") != 3 || strings.Count(string(log), "start immich_server") != 3 {
		t.Errorf("each night must stop and start Immich once:\n%s", log)
	}
	m := metricsOf(t, re.metrics)
	for _, step := range []string{"backup", "forget", "prune", "check", "copy:offsite"} {
		l := `{step="` + step + `"}`
		if v, ok := m["immich_vault_step_exit_status"+l]; !ok || v != 0 {
			t.Errorf("step %s: exit_status %v (present %v)", step, v, ok)
		}
		if m["immich_vault_step_last_success_timestamp_seconds"+l] == 0 || m["immich_vault_step_skipped"+l] != 0 {
			t.Errorf("step %s: no success recorded", step)
		}
	}
	if m["immich_vault_run_exit_status"] != 0 || m["immich_vault_run_last_success_timestamp_seconds"] == 0 ||
		m["immich_vault_backup_exit_status"] != 0 || m["immich_vault_backup_assets"] != float64(re.f.Assets) {
		t.Errorf("run/backup metrics: %v", m)
	}
	logb, _ := os.ReadFile(re.logf)
	if c := strings.Count(string(logb), "status=ok step=run"); c != 3 {
		t.Errorf("log: %d successful runs, want 3:\n%s", c, logb)
	}
	pings := re.ping.all()
	if strings.Count(pings, "GET /ping/uuid-1/start") != 3 || strings.Count(pings, "POST /ping/uuid-1 ") != 3 ||
		strings.Contains(pings, "/fail") || strings.Count(pings, "POST /ntfy/topic title=immich-vault on") != 3 ||
		!strings.Contains(pings, "copy:offsite: ok") {
		t.Errorf("monitor requests:\n%s", pings)
	}
}

// TestRunFailingStepExitCodeAndMetrics: the offsite repository was never
// created, so the copy step fails with exit 10 (repository missing); the
// run exits 10, the metrics say which step failed with which code, the
// steps before it are recorded as successful, on_failure runs with the
// error, and the monitor gets /fail.
func TestRunFailingStepExitCodeAndMetrics(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "on-failure")
	re := newRunEnv(t, "hooks:\n  on_failure: ['echo \"$IMMICH_VAULT_RUN_FAILED_STEP $IMMICH_VAULT_RUN_EXIT\" > "+mark+"']\n")
	r := re.exec("run")
	if !wantCode(t, r, 10) {
		return
	}
	if !strings.Contains(r.stderr, "step copy:offsite FAILED (exit 10)") || !strings.Contains(r.stderr, "init --copy-chunker-params-from") {
		t.Errorf("the failure does not say which step failed and what to do:\n%v", r)
	}
	m := metricsOf(t, re.metrics)
	want := map[string]float64{
		"immich_vault_run_exit_status":                       10,
		`immich_vault_step_exit_status{step="copy:offsite"}`: 10,
		`immich_vault_step_exit_status{step="backup"}`:       0,
		`immich_vault_step_exit_status{step="check"}`:        0,
		"immich_vault_backup_exit_status":                    0,
		`immich_vault_step_skipped{step="copy:offsite"}`:     0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("metric %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if _, ok := m["immich_vault_run_last_success_timestamp_seconds"]; ok {
		t.Errorf("a failed first run has a last-success time")
	}
	if _, ok := m[`immich_vault_step_last_success_timestamp_seconds{step="copy:offsite"}`]; ok {
		t.Errorf("the failed copy has a last-success time")
	}
	if b, _ := os.ReadFile(mark); strings.TrimSpace(string(b)) != "copy:offsite 10" {
		t.Errorf("on_failure hook saw %q", b)
	}
	if p := re.ping.all(); !strings.Contains(p, "POST /ping/uuid-1/fail") || !strings.Contains(p, "copy:offsite: failed") {
		t.Errorf("monitor requests:\n%s", p)
	}
	if l, _ := os.ReadFile(re.logf); !strings.Contains(string(l), "exit=10 status=failed step=copy:offsite") ||
		!strings.Contains(string(l), "exit=10 status=failed step=run") {
		t.Errorf("log:\n%s", l)
	}
	// Once the target exists the next run succeeds and the metrics recover.
	re.initOffsite()
	if r := re.exec("run"); r.code != 0 {
		t.Fatalf("run after creating the target:\n%v", r)
	}
	if m := metricsOf(t, re.metrics); m["immich_vault_run_exit_status"] != 0 || m[`immich_vault_step_exit_status{step="copy:offsite"}`] != 0 {
		t.Errorf("metrics after recovery: %v", m)
	}
}

// TestRunHooksNeverLeaveImmichQuiesced: a failing before hook fails the run
// before Immich is touched or anything written; a hanging hook is stopped
// after hooks.timeout; metrics still record the failure.
func TestRunHooksNeverLeaveImmichQuiesced(t *testing.T) {
	re := newRunEnv(t, "hooks:\n  timeout: 2s\n  before: ['exit 7']\n")
	r := re.exec("run")
	if !wantCode(t, r, 1) {
		return
	}
	if !strings.Contains(r.stderr, "hooks.before[0]") {
		t.Errorf("the message does not name the hook:\n%v", r)
	}
	if n := len(re.snapshots()); n != 0 {
		t.Errorf("%d snapshots written after a failed before hook", n)
	}
	if log, _ := os.ReadFile(re.docker); strings.Contains(string(log), "stop immich_server") {
		t.Errorf("Immich was stopped although the run failed before the backup:\n%s", log)
	}
	m := metricsOf(t, re.metrics)
	if m["immich_vault_run_exit_status"] != 1 || m[`immich_vault_step_skipped{step="backup"}`] != 1 || m["immich_vault_backup_exit_status"] != 1 {
		t.Errorf("metrics: %v", m)
	}

	// A hook that hangs is stopped after hooks.timeout.
	re.initOffsite()
	y, _ := os.ReadFile(re.cfg)
	mustWrite(t, re.cfg, []byte(strings.Replace(string(y), "before: ['exit 7']", "after: ['sleep 600']", 1)), 0o600)
	start := time.Now()
	r = re.exec("run")
	if !wantCode(t, r, 1) {
		return
	}
	if !strings.Contains(r.stderr, "did not finish within 2s") {
		t.Errorf("hanging hook:\n%v", r)
	}
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("the hanging hook held the run for %v", d)
	}
	if log, _ := os.ReadFile(re.docker); strings.Count(string(log), "stop immich_server") != strings.Count(string(log), "start immich_server") {
		t.Errorf("Immich left stopped:\n%s", log)
	}
}

// TestConfigFileAcrossCommands: config init writes a file that validates;
// the same file (IMMICH_VAULT_CONFIG) serves immich backup and immich
// verify (which used to fail on `unknown option "quiesce"`); unknown keys
// are errors naming the line; the command line wins over the file.
func TestConfigFileAcrossCommands(t *testing.T) {
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	cfg := filepath.Join(ie.env.dir, "generated.yaml")
	r := ie.ok("config", "init", "--immich-dir", ie.dir, "--output", cfg, "--repository", ie.repo)
	b := mustRead(t, cfg)
	for _, want := range []string{"dir: " + ie.dir, "UPLOAD_LOCATION=" + ie.f.Upload, "external library " + ie.f.External, "keep_daily: 7"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("generated config lacks %q:\n%s", want, b)
		}
	}
	if r = ie.run("config", "init", "--immich-dir", ie.dir, "--output", cfg); r.code == 0 || !strings.Contains(r.stderr, "not overwritten") {
		t.Errorf("config init overwrote its output:\n%v", r)
	}
	// The example password file does not exist: validate says so.
	r = ie.run("--config", cfg, "config", "validate")
	if !wantFailure(t, r) || !strings.Contains(r.stderr, "password_file") {
		t.Errorf("validate with a missing password file:\n%v", r)
	}
	pw := filepath.Join(ie.env.dir, "pw")
	mustWrite(t, pw, []byte(ie.password), 0o600)
	mustWrite(t, cfg, []byte(strings.Replace(string(b), "password_file: /etc/immich-vault/password", "password_file: "+pw, 1)), 0o600)
	if r := ie.run("--config", cfg, "config", "validate"); r.code != 0 {
		t.Fatalf("validate:\n%v", r)
	}
	env := opts{extraEnv: append(append([]string{}, ie.extra...), "IMMICH_VAULT_CONFIG="+cfg)}
	if r := ie.runOpts(env, "immich", "backup"); r.code != 0 {
		t.Fatalf("immich backup with the config:\n%v", r)
	}
	if r := ie.runOpts(env, "immich", "verify", "--snapshot", "latest"); r.code != 0 {
		t.Fatalf("immich verify with the same config:\n%v", r)
	}
	// The command line wins: --upload-location pointing elsewhere fails.
	if r := ie.runOpts(env, "immich", "backup", "--upload-location", filepath.Join(ie.env.dir, "nowhere")); r.code == 0 {
		t.Errorf("the command line did not override the file:\n%v", r)
	}
	// Unknown keys: an error naming the line, and the old format's hint.
	bad := filepath.Join(ie.env.dir, "bad.yaml")
	mustWrite(t, bad, []byte("repository: "+ie.repo+"\nretention:\n  keep_dayly: 7\n"), 0o600)
	if r := ie.run("--config", bad, "snapshots"); !wantFailure(t, r) || !strings.Contains(r.stderr, `line 3: unknown key "keep_dayly" in retention:`) {
		t.Errorf("unknown key:\n%v", r)
	}
	mustWrite(t, bad, []byte("immich-dir: "+ie.dir+"\nquiesce: stop\n"), 0o600)
	if r := ie.run("--config", bad, "immich", "verify"); !wantFailure(t, r) || !strings.Contains(r.stderr, "config init") {
		t.Errorf("old flat config:\n%v", r)
	}
	// A bad value for one command is caught by validate before any run.
	mustWrite(t, bad, []byte("repository: "+ie.repo+"\nbackup:\n  paths: [/]\nprune:\n  max_unused: lots\n"), 0o600)
	if r := ie.run("--config", bad, "config", "validate"); !wantFailure(t, r) || !strings.Contains(r.stderr, "prune.max_unused") {
		t.Errorf("bad prune.max_unused:\n%v", r)
	}
}

// TestImmichBackupRecordsRealExitCode: the metrics file and the log record
// the code the process exits with (12 wrong password, 10 disk not
// mounted), and a wrong password fails before --wait-quiet waits.
func TestImmichBackupRecordsRealExitCode(t *testing.T) {
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	metrics := filepath.Join(ie.env.dir, "m.prom")
	logf := filepath.Join(ie.env.dir, "log")
	start := time.Now()
	r := ie.runOpts(opts{password: strPtr("wrong"), extraEnv: ie.extra}, "immich", "backup", "--immich-dir", ie.dir,
		"--wait-quiet", "30m", "--metrics-file", metrics, "--log-file", logf)
	if !wantCode(t, r, 12) {
		return
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("a wrong password was reported after %v: the repository must be opened before waiting", d)
	}
	if m := metricsOf(t, metrics); m["immich_vault_backup_exit_status"] != 12 {
		t.Errorf("metrics exit_status %v, want 12", m["immich_vault_backup_exit_status"])
	}
	if l := string(mustRead(t, logf)); !strings.Contains(l, "exit=12") {
		t.Errorf("log: %s", l)
	}
	// --require-mount on a folder that is not a mount point: exit 10.
	notMount := filepath.Join(ie.env.dir, "notmounted")
	mustMkdirAll(t, notMount)
	r = ie.runOpts(opts{extraEnv: ie.extra}, "immich", "backup", "--immich-dir", ie.dir, "--require-mount", notMount, "--metrics-file", metrics)
	if !wantCode(t, r, 10) {
		return
	}
	if m := metricsOf(t, metrics); m["immich_vault_backup_exit_status"] != 10 {
		t.Errorf("metrics exit_status %v, want 10", m["immich_vault_backup_exit_status"])
	}
}
