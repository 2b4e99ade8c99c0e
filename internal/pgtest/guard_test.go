package pgtest

import (
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
func TestGuardStopsOrphan(t *testing.T) {
	if os.Getenv("PGTEST_GUARD_CHILD") != "" {
		c := Start(t)
		os.WriteFile(os.Getenv("PGTEST_GUARD_CHILD"), []byte(c.Dir), 0o644)
		time.Sleep(time.Minute) // killed by the parent
		return
	}
	Require(t)
	note := filepath.Join(t.TempDir(), "dir")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuardStopsOrphan$")
	cmd.Env = append(os.Environ(), "PGTEST_GUARD_CHILD="+note)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dir string
	for i := 0; i < 300 && dir == ""; i++ {
		time.Sleep(100 * time.Millisecond)
		b, _ := os.ReadFile(note)
		dir = strings.TrimSpace(string(b))
	}
	cmd.Process.Kill()
	cmd.Wait()
	if dir == "" {
		t.Fatal("child did not start a cluster")
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("cluster directory %s still exists 10 s after its test process died", dir)
}
