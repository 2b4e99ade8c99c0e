package pgtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGuardStopsOrphan starts a cluster in a child test process, kills the
// child, and checks that the watchdog stops the server and removes its
// directory.
//
// Timing: initdb and pg_ctl start take a few seconds on a quiet machine and
// much longer on a loaded one, so the test waits for the child by its state
// (the note written, or the child gone) under generous deadlines instead of a
// fixed short budget. The watchdog polls every 2 s and then runs pg_ctl stop,
// which is likewise slow under load.
func TestGuardStopsOrphan(t *testing.T) {
	if os.Getenv("PGTEST_GUARD_CHILD") != "" {
		c := Start(t)
		os.WriteFile(os.Getenv("PGTEST_GUARD_CHILD"), []byte(c.Dir), 0o644)
		time.Sleep(30 * time.Minute) // killed by the parent
		return
	}
	Require(t)
	note := filepath.Join(t.TempDir(), "dir")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuardStopsOrphan$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_GUARD_CHILD="+note)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var dir string
	deadline := time.After(5 * time.Minute)
wait:
	for dir == "" {
		select {
		case err := <-exited:
			t.Fatalf("child exited (%v) before it started a cluster:\n%s", err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("child did not start a cluster within 5 minutes:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
			b, _ := os.ReadFile(note)
			dir = strings.TrimSpace(string(b))
			if dir != "" {
				break wait
			}
		}
	}
	cmd.Process.Kill()
	<-exited
	for end := time.Now().Add(3 * time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
	}
	t.Fatalf("cluster directory %s still exists 3 minutes after its test process died", dir)
}
