package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/ops"
)

// daemonOutput is a bytes.Buffer safe to read while a process writes it.
type daemonOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *daemonOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *daemonOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemonHealth is the part of /healthz the test reads.
type daemonHealth struct {
	Status  string `json:"status"`
	Running string `json:"running"`
	Jobs    []struct {
		Name     string `json:"name"`
		Runs     int    `json:"runs"`
		Failures int    `json:"failures"`
		Refused  int    `json:"refused"`
		Last     *struct {
			ExitCode int    `json:"exit_code"`
			Status   string `json:"status"`
		} `json:"last"`
	} `json:"jobs"`
}

func getURL(url string) (string, int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// waitFor polls cond (every 100 ms, up to 4 minutes) and fails with what
// was last seen.
func waitFor(t *testing.T, what string, cond func() (bool, string), logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	seen := ""
	for time.Now().Before(deadline) {
		var ok bool
		if ok, seen = cond(); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waited 4 minutes for %s; last seen:\n%s\ndaemon output:\n%s", what, seen, logs.String())
}

// TestDaemonSchedulesOverlapSIGTERM drives `immich-vault daemon` through the
// binary against a real PostgreSQL (the Immich database) and the Immich
// server double: a one-second-resolution schedule for `snapshots` and one
// for the nightly `run` (immich backup with quiesce: stop) both fire; while
// the nightly job is held inside its backup (Immich stopped), the other
// job's fires are refused and counted; SIGTERM then stops the daemon, which
// passes it on to the job: the backup ends, Immich runs again, no quiesce
// record is left, and the daemon exits 0.
func TestDaemonSchedulesOverlapSIGTERM(t *testing.T) {
	qe := newQuiesceEnv(t)
	hold := filepath.Join(qe.env.dir, "hold")
	cfg := filepath.Join(qe.env.dir, "config.yaml")
	metrics := filepath.Join(qe.env.dir, "iv.prom")
	// The nightly job's backup runs an extra command that sleeps while the
	// hold file exists: the job then stays inside its backup, Immich stopped.
	y := `repository: ` + qe.repo + `
immich:
  dir: ` + qe.dir + `
  quiesce: stop
  state_dir: ` + qe.state + `
  extra_commands: ['if [ -e ` + hold + ` ]; then sleep 600; fi; echo extra']
prune:
  every: never
check:
  every: never
metrics_file: ` + metrics + `
daemon:
  listen: 127.0.0.1:0
  metrics: true
  jobs:
    - name: quick
      schedule: "*/2 * * * * *"
      command: [snapshots, --json]
    - name: nightly
      schedule: "1-59/4 * * * * *"
`
	mustWrite(t, cfg, []byte(y), 0o600)

	d := startDaemon(t, cfg, append([]string{"HOME=" + qe.home, "IMMICH_VAULT_PASSWORD=" + qe.password, "IMMICH_VAULT_CACHE_DIR=" + qe.cache, "PATH=" + os.Getenv("PATH")}, qe.extra...), false)
	out, base := d.out, d.health
	health := func() (daemonHealth, string) {
		var h daemonHealth
		body, code, err := getURL(base + "/healthz")
		if err != nil || code != 200 {
			return h, body + " " + errString(err)
		}
		json.Unmarshal([]byte(body), &h)
		return h, body
	}
	job := func(h daemonHealth, name string) (runs, refused, lastExit int) {
		for _, j := range h.Jobs {
			if j.Name == name {
				lastExit = -1
				if j.Last != nil && j.Last.Status != "running" {
					lastExit = j.Last.ExitCode
				}
				return j.Runs, j.Refused, lastExit
			}
		}
		return 0, 0, -1
	}

	// 1. Both schedules fire and their jobs succeed.
	waitFor(t, "both jobs to run and succeed", func() (bool, string) {
		h, body := health()
		qr, _, qx := job(h, "quick")
		nr, _, nx := job(h, "nightly")
		return qr >= 1 && qx == 0 && nr >= 1 && nx == 0, body
	}, out)
	if n := len(qe.snapshots()); n < 1 {
		t.Fatalf("no snapshot after the nightly job ran:\n%s", out.String())
	}
	qe.assertNormal(t, "after a nightly run", nil)
	// run wrote its metrics file; /metrics carries it with the daemon's own.
	body, code, err := getURL(base + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v\n%s", code, err, body)
	}
	m := ops.ParseMetrics([]byte(body))
	if m[`immich_vault_daemon_job_last_exit_code{job="nightly"}`] != 0 || m[`immich_vault_daemon_job_runs_total{job="quick"}`] < 1 {
		t.Errorf("/metrics:\n%s", body)
	}
	if _, ok := m["immich_vault_run_exit_status"]; !ok {
		t.Errorf("/metrics lacks the run's metrics file:\n%s", body)
	}

	// 2. The nightly job is held inside its backup, Immich stopped; the
	// quick job's fires are refused meanwhile.
	mustWrite(t, hold, nil, 0o600)
	waitFor(t, "the nightly job to stop Immich", func() (bool, string) {
		h, body := health()
		return h.Running == "nightly" && qe.srv.Mode() != "normal", body + "\nImmich: " + qe.srv.Mode()
	}, out)
	_, refused0, _ := job(mustHealth(health), "quick")
	waitFor(t, "a refused fire of the quick job", func() (bool, string) {
		h, body := health()
		_, refused, _ := job(h, "quick")
		return refused > refused0 && strings.Contains(out.String(), "job quick is due but job nightly runs"), body
	}, out)
	if h := mustHealth(health); h.Running != "nightly" {
		t.Fatalf("the nightly job ended on its own while held: %+v\n%s", h, out.String())
	}

	// 3. SIGTERM: the job is stopped the way run stops, Immich comes back,
	// the daemon exits 0.
	if werr := d.stop(); werr != nil {
		t.Errorf("daemon exit after SIGTERM: %v, want 0:\n%s", werr, out.String())
	}
	o := out.String()
	for _, want := range []string{"SIGTERM received: stopping job nightly", "job nightly interrupted (exit 143)", "daemon: stopped"} {
		if !strings.Contains(o, want) {
			t.Errorf("daemon output lacks %q:\n%s", want, o)
		}
	}
	qe.assertNormal(t, "after SIGTERM", nil)
	if log, _ := os.ReadFile(qe.docker); strings.Count(string(log), "stop immich_server") != strings.Count(string(log), "start immich_server") {
		t.Errorf("Immich left stopped:\n%s", log)
	}
}

func mustHealth(f func() (daemonHealth, string)) daemonHealth {
	h, _ := f()
	return h
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The health and metrics endpoint listens on loopback unless the file
// explicitly allows more; schedules and job commands are checked before
// anything runs.
func TestDaemonConfigChecks(t *testing.T) {
	e := newEnv(t)
	cfg := filepath.Join(e.dir, "config.yaml")
	for _, c := range []struct {
		yaml, want string
	}{
		{"daemon:\n  listen: 0.0.0.0:9810\n  jobs:\n    - {name: n, schedule: '@daily'}\n", "allow_remote"},
		{"daemon:\n  jobs:\n    - {name: n, schedule: '61 * * * *'}\n", `schedule "61 * * * *"`},
		{"daemon:\n  jobs:\n    - {name: n, schedule: '@daily'}\n    - {name: n, schedule: '@hourly'}\n", "listed twice"},
		{"daemon:\n  jobs:\n    - {name: n, schedule: '@daily', cmd: [run]}\n", `unknown key "cmd" in a daemon job`},
	} {
		mustWrite(t, cfg, []byte("repository: "+e.repo+"\nbackup:\n  paths: [/]\n"+c.yaml), 0o600)
		r := e.run("--config", cfg, "config", "validate")
		if r.code == 0 || !strings.Contains(r.output(), c.want) {
			t.Errorf("%s: want a failure naming %q:\n%v", c.yaml, c.want, r)
		}
	}
	mustWrite(t, cfg, []byte("repository: "+e.repo+"\nbackup:\n  paths: [/]\ndaemon:\n  listen: 0.0.0.0:9810\n  allow_remote: true\n  jobs:\n    - {name: n, schedule: '@daily'}\n"), 0o600)
	e.ok("--config", cfg, "config", "validate")
	mustWrite(t, cfg, []byte("repository: "+e.repo+"\nbackup:\n  paths: [/]\ndaemon:\n  listen: off\n  jobs:\n    - {name: n, schedule: '@daily', command: [nosuchcommand]}\n"), 0o600)
	r := e.run("--config", cfg, "daemon")
	if r.code == 0 || !strings.Contains(r.stderr, `"nosuchcommand" is not an immich-vault command`) {
		t.Errorf("unknown job command:\n%v", r)
	}
}
