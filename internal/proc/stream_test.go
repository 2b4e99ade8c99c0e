//go:build unix

package proc

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// A stream's output is read by the caller; a failing command's Wait error
// names it, its exit status and its standard error, which is also echoed.
func TestStream(t *testing.T) {
	var echo bytes.Buffer
	s, err := Start(Command(context.Background(), "sh", "-c", "echo out; echo oops >&2; exit 3"), "the command", &echo)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(s)
	err = s.Wait()
	if string(b) != "out\n" || err == nil || !strings.Contains(err.Error(), "the command: exit status 3: oops") || echo.String() != "oops\n" {
		t.Fatalf("output %q, err %v, echo %q", b, err, echo.String())
	}
	s.Kill() // safe after Wait

	ok, err := Start(Command(context.Background(), "true"), "true", nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, ok)
	if err := ok.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Command(context.Background(), "/nonexistent/command"), "nothing", nil); err == nil || !strings.HasPrefix(err.Error(), "start nothing: ") {
		t.Fatalf("missing command: %v", err)
	}
}
