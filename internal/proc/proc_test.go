package proc

import (
	"context"
	"io"
	"testing"
	"time"
)

// A shell whose grandchild holds stdout must still end promptly when the
// context is cancelled (plain exec.CommandContext waits for the grandchild).
func TestCancelKillsProcessGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := Command(ctx, "sh", "-c", "sleep 30; echo done")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	if err == nil {
		t.Fatal("want an error from a killed command")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Wait took %v after cancellation; the grandchild kept the pipe open", d)
	}
}
