package main_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/ops"
	"github.com/immich-vault/immich-vault/repo"
)

// opsPlain is a repository with a source folder, a copy target, and one
// metrics file and one log shared by every command (as one configuration
// file's metrics_file and log_file are).
type opsPlain struct {
	*env
	src, metrics, logf string
	dst                *env
	extraEnv           []string // for every exec
}

func newOpsPlain(t *testing.T) *opsPlain {
	e := newEnv(t)
	e.initRepo()
	p := &opsPlain{env: e, src: filepath.Join(e.dir, "src"), metrics: filepath.Join(e.dir, "iv.prom"), logf: filepath.Join(e.dir, "iv.log")}
	mustMkdirAll(t, p.src)
	mustWrite(t, filepath.Join(p.src, "a.jpg"), []byte(strings.Repeat("photo ", 5000)), 0o644)
	mustWrite(t, filepath.Join(p.src, "b.txt"), []byte("note"), 0o644)
	p.dst = newEnv(t)
	p.dst.initRepo()
	return p
}

// exec runs command (backup, forget, prune, check or copy) with
// --metrics-file and --log-file and returns its result; password is the
// repository's (nil: the right one).
func (p *opsPlain) exec(password *string, command string, args ...string) result {
	p.t.Helper()
	o := opts{password: password}
	var argv []string
	switch command {
	case "backup":
		argv = append([]string{"backup", p.src}, args...)
	case "forget":
		argv = append([]string{"forget", "--keep-last", "1"}, args...)
	case "copy":
		// Into the second repository: the password given is the target's.
		o.extraEnv = []string{"IMMICH_VAULT_REPOSITORY=" + p.dst.repo, "IMMICH_VAULT_FROM_PASSWORD=" + p.password}
		if password == nil {
			o.password = &p.dst.password
		}
		argv = append([]string{"copy", "--from-repo", p.repo}, args...)
	default:
		argv = append([]string{command}, args...)
	}
	o.extraEnv = append(o.extraEnv, p.extraEnv...)
	return p.runOpts(o, append(argv, "--metrics-file", p.metrics, "--log-file", p.logf)...)
}

// wantRecorded checks that the metrics file parses and says command ended
// with code, and that the log's last line for command says so too.
func (p *opsPlain) wantRecorded(command string, code int, wantSuccess bool) map[string]float64 {
	p.t.Helper()
	b := mustRead(p.t, p.metrics)
	m := ops.ParseMetrics(b)
	l := `{command="` + command + `"}`
	if got, ok := m["immich_vault_command_exit_status"+l]; !ok || got != float64(code) {
		p.t.Errorf("%s: immich_vault_command_exit_status = %v (present %v), want %d; file:\n%s", command, got, ok, code, b)
	}
	for _, name := range []string{"last_run_timestamp_seconds", "duration_seconds"} {
		if _, ok := m["immich_vault_command_"+name+l]; !ok {
			p.t.Errorf("%s: no immich_vault_command_%s; file:\n%s", command, name, b)
		}
	}
	if _, ok := m["immich_vault_command_last_success_timestamp_seconds"+l]; ok != wantSuccess {
		p.t.Errorf("%s: last_success_timestamp present %v, want %v; file:\n%s", command, ok, wantSuccess, b)
	}
	checkTextfile(p.t, b)
	var last string
	for _, line := range strings.Split(string(mustRead(p.t, p.logf)), "\n") {
		if strings.Contains(line, " command="+command+" ") {
			last = line
		}
	}
	status := "ok"
	if code != 0 {
		status = "failed"
	}
	if !strings.Contains(last, " exit="+strconv.Itoa(code)+" ") || !strings.Contains(last, " status="+status) {
		p.t.Errorf("%s: last log line %q, want exit=%d status=%s", command, last, code, status)
	}
	return m
}

// checkTextfile checks what node_exporter's textfile collector requires:
// each family's HELP and TYPE once, before its samples, which are in one
// group; no sample twice.
func checkTextfile(t *testing.T, b []byte) {
	t.Helper()
	seenFamily := map[string]bool{}
	seenSample := map[string]bool{}
	cur := ""
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "#" && f[1] == "HELP":
			if seenFamily[f[2]] {
				t.Errorf("line %d: family %s appears twice:\n%s", i+1, f[2], b)
			}
			seenFamily[f[2]], cur = true, f[2]
		case len(f) >= 4 && f[0] == "#" && f[1] == "TYPE":
			if f[2] != cur || f[3] != "gauge" {
				t.Errorf("line %d: TYPE %s out of place:\n%s", i+1, f[2], b)
			}
		case len(f) == 2:
			name, _, _ := strings.Cut(f[0], "{")
			if name != cur {
				t.Errorf("line %d: sample %s outside its family's group (%s):\n%s", i+1, f[0], cur, b)
			}
			if seenSample[f[0]] {
				t.Errorf("line %d: sample %s twice:\n%s", i+1, f[0], b)
			}
			seenSample[f[0]] = true
		default:
			t.Errorf("line %d: malformed %q", i+1, line)
		}
	}
}

// TestOpsPlainCommandsRecordSuccessAndRealExitCode: backup, forget, prune,
// check and copy each write their metrics (into one shared file, keeping
// the others') and a log line, on success and on failure, with the code the
// process exits with: 12 for a wrong password, 11 for a locked repository.
// A failure keeps the last success time.
func TestOpsPlainCommandsRecordSuccessAndRealExitCode(t *testing.T) {
	p := newOpsPlain(t)
	commands := []string{"backup", "forget", "prune", "check", "copy"}
	for _, c := range commands {
		if r := p.exec(nil, c); !wantCode(t, r, 0) {
			t.FailNow()
		}
		p.wantRecorded(c, 0, true)
	}
	m := p.wantRecorded("backup", 0, true)
	if m[`immich_vault_command_bytes_added{command="backup"}`] <= 0 || m[`immich_vault_command_files{command="backup"}`] != 2 {
		t.Errorf("backup's bytes_added/files: %v", m)
	}
	if l := string(mustRead(t, p.logf)); !strings.Contains(l, "command=backup") || !strings.Contains(l, "files=2") || !strings.Contains(l, "snapshot=") {
		t.Errorf("backup's log line has no snapshot and file count:\n%s", l)
	}
	okTime := m[`immich_vault_command_last_success_timestamp_seconds{command="check"}`]

	// Wrong password: 12, recorded as 12 (not 1), last success kept.
	wrong := "wrong password"
	for _, c := range commands {
		if r := p.exec(&wrong, c); !wantCode(t, r, 12) {
			continue
		}
		m := p.wantRecorded(c, 12, true)
		if c == "check" && m[`immich_vault_command_last_success_timestamp_seconds{command="check"}`] != okTime {
			t.Errorf("a failed check changed its last success time: %v, was %v", m[`immich_vault_command_last_success_timestamp_seconds{command="check"}`], okTime)
		}
	}
	// Every command's samples are still in the one file.
	m = ops.ParseMetrics(mustRead(t, p.metrics))
	for _, c := range commands {
		if m[`immich_vault_command_exit_status{command="`+c+`"}`] != 12 {
			t.Errorf("%s's samples lost from the shared file: %v", c, m)
		}
	}

	// A repository locked by a prune elsewhere (backup, forget and check
	// run beside it by design, a second prune does not): 11.
	p.plantLock(repo.LockOptions{Exclusive: true, Purpose: "prune", Host: "other-host", PID: 4242}, time.Now())
	if r := p.exec(nil, "prune"); wantCode(t, r, exitLockedCode) {
		p.wantRecorded("prune", exitLockedCode, true)
	}
}

// TestOpsPlainBackupPreflights: plain backup has immich backup's
// --require-mount (exit 10, nothing written, recorded as 10) and free-space
// preflight (refused before anything is read or written).
func TestOpsPlainBackupPreflights(t *testing.T) {
	p := newOpsPlain(t)
	notMount := filepath.Join(p.dir, "notmounted")
	mustMkdirAll(t, notMount)
	r := p.exec(nil, "backup", "--require-mount", notMount)
	if wantCode(t, r, 10) {
		p.wantRecorded("backup", 10, false)
		if !strings.Contains(r.stderr, "not a mount point") || !strings.Contains(r.stderr, "Nothing was written") {
			t.Errorf("the refusal does not say why and what happened:\n%v", r)
		}
	}
	// The repository's own file system's root is a mount point it is on.
	if r := p.exec(nil, "backup", "--require-mount", mountPointOf(t, p.repo)); wantCode(t, r, 0) {
		p.wantRecorded("backup", 0, true)
	}
	before := len(p.snapshots())

	// A sparse file larger than the free space: the preflight refuses.
	sparseBeyondFree(t, p.repo, filepath.Join(p.src, "huge.img"))
	// The walk counts the file's size; without the hook the used-bytes
	// bound (ops.SourceBound) may clear this disk, see
	// TestOpsPlainBackupSourceBound.
	p.extraEnv = []string{"IMMICH_VAULT_TEST_NO_SOURCE_BOUND=1"}
	r = p.exec(nil, "backup")
	p.extraEnv = nil
	if wantCode(t, r, 1) {
		p.wantRecorded("backup", 1, true)
		if !strings.Contains(r.stderr, "--no-space-check") || !strings.Contains(r.stderr, "free") {
			t.Errorf("the refusal does not say what to do:\n%v", r)
		}
	}
	if n := len(p.snapshots()); n != before {
		t.Errorf("%d snapshots after a refused backup, want %d", n, before)
	}
}

// mountPointOf returns the mount point of the file system holding path
// (the longest /proc/self/mountinfo mount point that is a prefix of it).
func mountPointOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("no /proc/self/mountinfo: %v", err)
	}
	abs, _ := filepath.EvalSymlinks(path)
	best := "/"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := strings.ReplaceAll(f[4], `\040`, " ")
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	return best
}

// TestOpsPlainConfigAndRunShareMetricsFile: the configuration's metrics_file
// and log_file apply to plain commands as to immich backup, and one file
// serves run and them: run keeps the commands' samples, a command keeps
// run's.
func TestOpsPlainConfigAndRunShareMetricsFile(t *testing.T) {
	p := newOpsPlain(t)
	pwFile := filepath.Join(p.dir, "password")
	mustWrite(t, pwFile, []byte(p.password+"\n"), 0o600)
	notMount := filepath.Join(p.dir, "notmounted")
	mustMkdirAll(t, notMount)
	cfg := filepath.Join(p.dir, "config.yaml")
	y := "repository: " + p.repo + "\npassword_file: " + pwFile + "\nbackup:\n  paths: [" + p.src + "]\nretention:\n  keep_last: 2\n" +
		"metrics_file: " + p.metrics + "\nlog_file: " + p.logf + "\n"
	mustWrite(t, cfg, []byte(y), 0o600)
	withCfg := opts{password: strPtr(""), noRepoEnv: true, extraEnv: []string{"IMMICH_VAULT_CONFIG=" + cfg}}
	if r := p.runOpts(withCfg, "config", "validate"); !wantCode(t, r, 0) {
		t.FailNow()
	}
	if r := p.runOpts(withCfg, "run"); !wantCode(t, r, 0) {
		t.FailNow()
	}
	for _, c := range []string{"check", "forget"} {
		if r := p.runOpts(withCfg, c); wantCode(t, r, 0) {
			p.wantRecorded(c, 0, true)
		}
	}
	m := ops.ParseMetrics(mustRead(t, p.metrics))
	if m["immich_vault_run_exit_status"] != 0 || m[`immich_vault_step_exit_status{step="backup"}`] != 0 {
		t.Errorf("check and forget dropped run's metrics: %v", m)
	}
	if _, ok := m["immich_vault_run_last_success_timestamp_seconds"]; !ok {
		t.Errorf("run's last success time lost: %v", m)
	}
	// run does not record its steps as commands (it writes its own step
	// metrics), and keeps what the commands wrote.
	before := m[`immich_vault_command_last_run_timestamp_seconds{command="check"}`]
	if r := p.runOpts(withCfg, "run"); !wantCode(t, r, 0) {
		t.FailNow()
	}
	b := mustRead(t, p.metrics)
	checkTextfile(t, b)
	m = ops.ParseMetrics(b)
	if got := m[`immich_vault_command_last_run_timestamp_seconds{command="check"}`]; got != before || before == 0 {
		t.Errorf("run changed or dropped check's samples: %v, was %v:\n%s", got, before, b)
	}
	if _, ok := m[`immich_vault_command_exit_status{command="backup"}`]; ok {
		t.Errorf("run's backup step was recorded as a plain backup command:\n%s", b)
	}
	// backup.require_mount applies to the plain backup too.
	mustWrite(t, cfg, []byte(strings.Replace(y, "backup:\n", "backup:\n  require_mount: "+notMount+"\n", 1)), 0o600)
	if r := p.runOpts(withCfg, "backup", p.src); wantCode(t, r, 10) {
		p.wantRecorded("backup", 10, false)
	}
	if r := p.runOpts(withCfg, "run"); wantCode(t, r, 10) {
		if m := metricsOf(t, p.metrics); m[`immich_vault_step_exit_status{step="backup"}`] != 10 || m["immich_vault_run_exit_status"] != 10 {
			t.Errorf("run with backup.require_mount: %v", m)
		}
	}
}

// TestOpsPlainInterruptedRecords130: a backup interrupted by SIGINT records
// 130, the code it exits with, in its metrics and log.
func TestOpsPlainInterruptedRecords130(t *testing.T) {
	p := newOpsPlain(t)
	// The command never writes: the backup is surely running when the
	// signal arrives (startSignal waits until the handler is armed).
	r := p.startSignal(0, syscall.SIGINT, nil, "backup", "--metrics-file", p.metrics, "--log-file", p.logf,
		"--stdin-from-command", "--stdin-filename", "db.sql", "--", "sleep", "600")
	if !r.signalled || r.code != 130 {
		t.Fatalf("exit code %d (signalled %v), want 130:\n%s", r.code, r.signalled, r.out)
	}
	p.wantRecorded("backup", 130, false)
}
