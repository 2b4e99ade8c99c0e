//go:build linux || darwin || freebsd

package fs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openSourceFile(t *testing.T, p string) *RawFile {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSource(p, uint64(st.Dev), uint64(st.Ino))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRawFileExpectSizeEndsWithoutExtraRead: once the size the walk saw
// came in by a short read, Read reports EOF without another read; bytes
// appended after that are not read (the archiver's fstat after reading
// reports the change). Without ExpectSize they are.
func TestRawFileExpectSizeEndsWithoutExtraRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	content := bytes.Repeat([]byte("thumbnail "), 1000)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	withSize := openSourceFile(t, p)
	withSize.ExpectSize(int64(len(content)))
	without := openSourceFile(t, p)
	buf := make([]byte, 1<<20)
	for _, f := range []*RawFile{withSize, without} {
		n, err := f.Read(buf)
		if err != nil || n != len(content) || !bytes.Equal(buf[:n], content) {
			t.Fatalf("first read: %d bytes, %v; want the %d bytes of the file", n, err, len(content))
		}
	}
	a, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteString("appended"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if n, err := withSize.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("with ExpectSize, read after the expected size: %d bytes, %v; want 0, io.EOF", n, err)
	}
	if n, err := without.Read(buf); n != len("appended") || err != nil {
		t.Errorf("without ExpectSize, read after the first: %d bytes, %v; want the 8 appended bytes", n, err)
	}
	if n, err := without.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("without ExpectSize, last read: %d bytes, %v; want 0, io.EOF", n, err)
	}

	// A file that shrank below the expected size ends at its real end.
	q := filepath.Join(t.TempDir(), "g")
	if err := os.WriteFile(q, content[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	g := openSourceFile(t, q)
	g.ExpectSize(int64(len(content)))
	got, err := io.ReadAll(g)
	if err != nil || len(got) != 100 {
		t.Errorf("shrunk file: read %d bytes, %v; want 100", len(got), err)
	}
}

// TestRawFileReadClearsNonblockOnEAGAIN: a source is opened O_NONBLOCK
// (a FIFO swapped in must not block the open) and the flag is no longer
// cleared after the open. A descriptor that does answer EAGAIN (here a
// pipe, the one kind of file that does) is switched to blocking reads by
// Read, which then waits for the data instead of failing.
func TestRawFileReadClearsNonblockOnEAGAIN(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[1])
	if err := unix.SetNonblock(p[0], true); err != nil {
		t.Fatal(err)
	}
	f := &RawFile{FD: p[0], expect: -1}
	defer f.Close()
	type res struct {
		n   int
		err error
	}
	done := make(chan res, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := f.Read(buf)
		done <- res{n, err}
	}()
	// Write only once Read has seen EAGAIN and cleared O_NONBLOCK (or has
	// returned, which the old code did, with EAGAIN).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		fl, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fl&unix.O_NONBLOCK == 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("Read on an empty non-blocking pipe returned %d, %v; want it to wait for data", r.n, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Read did not clear O_NONBLOCK within 2 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := syscall.Write(p[1], []byte("data")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.n != 4 || r.err != nil {
			t.Fatalf("Read: %d, %v; want 4 bytes", r.n, r.err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Read did not return within 2 minutes of the write")
	}
}
