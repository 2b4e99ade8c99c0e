package main_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonServeRepositoryLater: the daemon starts while its web UI's
// repository cannot be opened (here: not initialized yet; on a NAS, the
// share not mounted yet or S3 unreachable). The daemon keeps running: its
// health endpoint answers and its jobs run on schedule, the UI answers 503
// with the reason, and once the repository exists the UI opens it by
// itself (retry shortened to 1 s for the test) and serves the timeline.
// Before this, the daemon refused to start at all.
func TestDaemonServeRepositoryLater(t *testing.T) {
	e := newEnv(t)
	data := filepath.Join(e.dir, "data")
	mustMkdirAll(t, data)
	mustWrite(t, filepath.Join(data, "a.txt"), []byte("hello later"), 0o600)
	cfg := e.daemonServeConfig(data, `
    - name: quick
      schedule: "*/2 * * * * *"
      command: [snapshots, --json]
`)

	// The daemon must not exit while its UI's repository does not exist
	// yet (startDaemon fails the test if it does).
	d := startDaemon(t, cfg, e.serveEnv("IMMICH_VAULT_TEST_DAEMON_WEB_RETRY=1s"), true)
	out, health := d.out, d.health
	s := &served{t: t, url: d.ui}

	// Unavailable: 503 with the reason, for everyone, and the job runs.
	resp, body := s.get("/")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "cannot open the repository") {
		t.Fatalf("GET / before the repository exists: want 503 saying why, got %s\n%s", resp.Status, body)
	}
	waitFor(t, "the scheduled job to run while the UI is unavailable", func() (bool, string) {
		b, code, err := getURL(health + "/healthz")
		if err != nil || code != http.StatusOK {
			return false, b + errString(err)
		}
		var h daemonHealth
		if json.Unmarshal([]byte(b), &h) != nil || len(h.Jobs) != 1 {
			return false, b
		}
		return h.Jobs[0].Runs > 0, b
	}, out)

	// The repository appears: the UI opens it without a restart.
	e.ok("init")
	e.backup(0, data)
	waitFor(t, "the UI to open the repository and show its snapshot", func() (bool, string) {
		resp, body := s.get("/")
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "Snapshots <small>1</small>"), resp.Status + "\n" + string(body)
	}, out)
	if !strings.Contains(out.String(), "the repository is open now") {
		t.Errorf("the daemon's log does not say the UI opened the repository:\n%s", out.String())
	}

	if err := d.stop(); err != nil {
		t.Fatalf("daemon after SIGTERM: %v\n%s", err, out)
	}
}
