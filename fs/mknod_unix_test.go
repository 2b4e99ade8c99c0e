//go:build unix

package fs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// mknod (per-OS: the device number's type differs on FreeBSD) creates the
// node it is asked for.
func TestMknodHelper(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := mknod(p, unix.S_IFIFO|0o600, 0); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lstat: %v %v", fi.Mode(), err)
	}
}
