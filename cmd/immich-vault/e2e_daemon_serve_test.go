package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDaemonServe runs `immich-vault daemon` with daemon.serve through the
// binary: the daemon serves the web UI of `serve` next to its jobs. One job
// (`snapshots`) succeeds and one (`ls` of a snapshot that does not exist)
// fails on second-resolution schedules; the authenticated timeline then
// shows each job's last start, duration, exit code and result, the same as
// /healthz reports; requests without the password, or with a wrong one, are
// refused and show nothing of the jobs. SIGTERM stops daemon and UI, exit 0.
func TestDaemonServe(t *testing.T) {
	e := newEnv(t)
	e.ok("init")
	data := filepath.Join(e.dir, "data")
	mustMkdirAll(t, data)
	mustWrite(t, filepath.Join(data, "a.txt"), []byte("hello daemon serve"), 0o600)
	e.backup(0, data)

	cfg := e.daemonServeConfig(data, `
    - name: quick
      schedule: "*/3 * * * * *"
      command: [snapshots, --json]
    - name: broken
      schedule: "1-59/3 * * * * *"
      command: [ls, deadbeefdeadbeef]
`)

	d := startDaemon(t, cfg, e.serveEnv(), true)
	out, health := d.out, d.health
	s := &served{t: t, url: d.ui}

	// Both jobs have ended at least once (healthz says so).
	var h daemonHealth
	waitFor(t, "both jobs to end a run", func() (bool, string) {
		body, code, err := getURL(health + "/healthz")
		if err != nil || code != http.StatusOK {
			return false, body + errString(err)
		}
		h = daemonHealth{}
		if json.Unmarshal([]byte(body), &h) != nil {
			return false, body
		}
		n := 0
		for _, j := range h.Jobs {
			if j.Runs > 0 {
				n++
			}
		}
		return n == 2, body
	}, out)

	// The authenticated timeline shows each job's last result. A job may
	// run again between the two reads: read the page until it shows a
	// finished run for both, then compare with the exit codes healthz had
	// (each job's command always ends the same way).
	want := map[string]int{}
	for _, j := range h.Jobs {
		if j.Last == nil {
			t.Fatalf("healthz: job %s ran but has no last run", j.Name)
		}
		if j.Last.Status != "running" {
			want[j.Name] = j.Last.ExitCode
		}
	}
	if want["quick"] != 0 || want["broken"] == 0 {
		t.Fatalf("healthz: want quick to exit 0 and broken to fail, got %v\n%s", want, out.String())
	}
	rowRe := func(name string) *regexp.Regexp {
		return regexp.MustCompile(`(?s)<tr class="job" id="job-` + name + `">.*?<td class="start"><time datetime="([^"]+)">.*?<td class="duration">([^<]+)</td>\s*<td class="exit">(-?\d+)</td><td class="status"><span class="badge \w+">(\w+)</span>`)
	}
	var page string
	waitFor(t, "the timeline to show both jobs' finished runs", func() (bool, string) {
		resp, body := s.get("/")
		page = string(body)
		if resp.StatusCode != http.StatusOK {
			return false, resp.Status + "\n" + page
		}
		for name, code := range want {
			m := rowRe(name).FindStringSubmatch(page)
			if m == nil {
				return false, page
			}
			start, err := time.Parse(time.RFC3339, m[1])
			if err != nil || time.Since(start) > 30*time.Minute || time.Until(start) > time.Minute {
				return false, "start " + m[1] + "\n" + page
			}
			if _, err := time.ParseDuration(strings.TrimSpace(m[2])); err != nil {
				return false, "duration " + m[2] + "\n" + page
			}
			got, _ := strconv.Atoi(m[3])
			status := m[4]
			if got != code || (code == 0) != (status == "ok") {
				return false, name + ": exit " + m[3] + " " + status + "\n" + page
			}
		}
		return true, page
	}, out)
	if !strings.Contains(page, "Snapshots <small>1</small>") {
		t.Errorf("the timeline inside the daemon does not list the repository's snapshot:\n%s", page)
	}

	// Without the password, or with a wrong one: refused, nothing shown.
	for _, hdr := range []map[string]string{nil, basicAuth("not the password"), {"Accept": "text/html"}} {
		resp, body := s.do(nil, "GET", "/", nil, hdr)
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET / with %v: want 401 or 303 to the login form, got %s", hdr, resp.Status)
		}
		if resp.StatusCode == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("GET / with %v: redirected to %q, not the login form", hdr, resp.Header.Get("Location"))
		}
		if strings.Contains(string(body), "broken") || strings.Contains(string(body), "job-quick") {
			t.Errorf("GET / with %v shows the jobs:\n%s", hdr, body)
		}
	}

	if err := d.stop(); err != nil {
		t.Fatalf("daemon after SIGTERM: %v\n%s", err, out)
	}
}

// daemonServeConfig writes, in e.dir, the UI's password file (serveSecret)
// and config.yaml: back up data; the daemon's health endpoint and its web
// UI (daemon.serve, with that password file) each on a free local port;
// and the jobs given (daemon.jobs's YAML list, indented four spaces). It
// returns the configuration's path.
func (e *env) daemonServeConfig(data, jobs string) string {
	e.t.Helper()
	pwFile := filepath.Join(e.dir, "ui-password")
	mustWrite(e.t, pwFile, []byte(serveSecret+"\n"), 0o600)
	cfg := filepath.Join(e.dir, "config.yaml")
	mustWrite(e.t, cfg, []byte(`repository: `+e.repo+`
backup:
  paths: [`+data+`]
daemon:
  listen: 127.0.0.1:0
  serve:
    listen: 127.0.0.1:0
    password_file: `+pwFile+`
  jobs:`+jobs), 0o600)
	return cfg
}

// TestDaemonServeRefuses: daemon.serve without a password file, with a
// password too short, or on a network address without allow_remote is
// refused before anything runs.
func TestDaemonServeRefuses(t *testing.T) {
	e := newEnv(t)
	e.ok("init")
	cfg := filepath.Join(e.dir, "config.yaml")
	short := filepath.Join(e.dir, "short")
	mustWrite(t, short, []byte("short\n"), 0o600)
	jobs := "  jobs:\n    - {name: n, schedule: '@daily'}\n"
	for _, c := range []struct {
		serve, want string
		validate    bool // config validate already refuses it
	}{
		{"  serve:\n    listen: 127.0.0.1:0\n", "password_file", true},
		{"  serve:\n    listen: 0.0.0.0:0\n    password_file: " + short + "\n", "daemon.serve.allow_remote", true},
		{"  serve:\n    listen: 127.0.0.1:0\n    passwd: x\n", `unknown key "passwd" in daemon.serve`, true},
		{"  serve:\n    listen: 127.0.0.1:0\n    password_file: " + short + "\n", "at least", false},
		{"  serve:\n    listen: 127.0.0.1:0\n    password_file: " + filepath.Join(e.dir, "missing") + "\n", "password file", false},
	} {
		mustWrite(t, cfg, []byte("repository: "+e.repo+"\nbackup:\n  paths: [/]\ndaemon:\n  listen: off\n"+c.serve+jobs), 0o600)
		if c.validate {
			if r := e.run("--config", cfg, "config", "validate"); r.code == 0 || !strings.Contains(r.output(), c.want) {
				t.Errorf("config validate of\n%s: want a failure naming %q:\n%v", c.serve, c.want, r)
			}
		}
		cmd := exec.Command(binPath, "--config", cfg, "daemon")
		cmd.Env = append(e.serveEnv(), "IMMICH_VAULT_SERVE_PASSWORD="+serveSecret)
		done := make(chan struct{})
		var b []byte
		var err error
		go func() { b, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(cmdTimeout):
			cmd.Process.Kill()
			<-done
			t.Fatalf("daemon with\n%s did not refuse to start within %v:\n%s", c.serve, cmdTimeout, b)
		}
		if err == nil || !strings.Contains(string(b), c.want) || strings.Contains(string(b), "web UI on") {
			t.Errorf("daemon with\n%s: want a refusal naming %q, got %v:\n%s", c.serve, c.want, err, b)
		}
	}
	_ = os.Remove(short)
}
