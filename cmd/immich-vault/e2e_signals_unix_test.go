//go:build unix

package main_test

// The tests of e2e_signals_test.go that need FIFOs (mkfifo(2)).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A regular file replaced by a FIFO between the walk's lstat and its open
// used to hang the backup forever (open(2) of a FIFO waits for a writer),
// deaf to signals and refreshing its lock. A goroutine swaps FIFOs and
// regular files under 200 names while backups run: each backup must end
// (exit 0, or 3 with "changed type while read" for the files it skipped)
// within a generous bound.
func TestSignalFIFOSwappedIn(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	mustMkdirAll(t, src)
	const victims = 200
	for i := range victims {
		mustWrite(t, filepath.Join(src, fmt.Sprintf("v%02d", i)), []byte("regular"), 0o644)
	}
	stop := make(chan struct{})
	swapped := make(chan int)
	go func() {
		n := 0
		defer func() { swapped <- n }()
		spare := filepath.Join(e.dir, "spare")
		for {
			for i := range victims {
				select {
				case <-stop:
					return
				default:
				}
				v := filepath.Join(src, fmt.Sprintf("v%02d", i))
				if err := syscall.Mkfifo(spare, 0o644); err == nil {
					os.Rename(spare, v)
				}
				os.WriteFile(spare, []byte("regular again"), 0o644)
				os.Rename(spare, v)
				n++
			}
		}
	}()
	// Until two backups hit the window (or 30 ran): before the fix a hit
	// is a hang.
	skipped, runs := 0, 0
	for i := 0; i < 30 && skipped < 2; i++ {
		runs++
		r, hung := e.runBounded(2*time.Minute, "backup", "--force", src)
		if hung {
			close(stop)
			<-swapped
			t.Fatalf("backup %d still running after 2 minutes (killed): it hangs on a FIFO swapped in for a regular file:\n%v", i, r)
		}
		switch {
		case r.code == exitOK:
		case r.code == exitPartial && strings.Contains(r.stderr, "changed type while read"):
			skipped++
		default:
			close(stop)
			<-swapped
			t.Fatalf("backup %d: want exit 0, or 3 with \"changed type while read\":\n%v", i, r)
		}
	}
	close(stop)
	t.Logf("%d swaps; %d of %d backups skipped a file that changed type while read", <-swapped, skipped, runs)
	e.ok("check")
}

// A FIFO named CACHEDIR.TAG does not stop a backup with --exclude-caches:
// it is not a tag (only a regular file is), so its directory is backed up,
// FIFO included, while a real cache directory beside it is left out.
// Opening it to read the signature used to wait for a writer forever.
func TestSignalFIFOCacheTagDoesNotHang(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	writeRandomTree(t, filepath.Join(src, "fifo-dir"), 2, 3, nil)
	writeRandomTree(t, filepath.Join(src, "cache"), 2, 4, nil)
	if err := syscall.Mkfifo(filepath.Join(src, "fifo-dir", "CACHEDIR.TAG"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "cache", "CACHEDIR.TAG"), []byte("Signature: 8a477f597d28d172789f06886806bc55\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, hung := e.runBounded(2*time.Minute, "backup", "--exclude-caches", src)
	if hung {
		t.Fatalf("backup hung on a FIFO named CACHEDIR.TAG:\n%v", r)
	}
	if r.code != exitOK {
		t.Fatalf("backup: want exit 0:\n%v", r)
	}
	ls := e.ok("ls", "latest").stdout
	if !strings.Contains(ls, filepath.Join(src, "fifo-dir", "CACHEDIR.TAG")) {
		t.Errorf("the FIFO's directory was not backed up with it:\n%s", ls)
	}
	if strings.Contains(ls, filepath.Join(src, "cache")+"/") {
		t.Errorf("the real cache directory's contents were backed up:\n%s", ls)
	}
}
