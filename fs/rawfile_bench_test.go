//go:build linux || darwin || freebsd

package fs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkDirHandleNames: listing a small directory (the thumbnail
// fan-out has one or two entries per directory), with the getdents buffer
// from the pool.
func BenchmarkDirHandleNames(b *testing.B) {
	dir := b.TempDir()
	for i := range 2 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := OpenDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		if names, err := d.Names(); err != nil || len(names) != 2 {
			b.Fatal(names, err)
		}
		d.Close()
	}
}

// BenchmarkSourceReadSmall: open, check, read whole and close one 20 KB
// source file as the archiver does (ExpectSize: no read for EOF).
func BenchmarkSourceReadSmall(b *testing.B) {
	p := filepath.Join(b.TempDir(), "thumb.webp")
	if err := os.WriteFile(p, make([]byte, 20<<10), 0o644); err != nil {
		b.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		f, err := OpenSource(p, uint64(st.Dev), uint64(st.Ino))
		if err != nil {
			b.Fatal(err)
		}
		f.ExpectSize(st.Size)
		total := 0
		for {
			n, err := f.Read(buf)
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if total != 20<<10 {
			b.Fatal(total)
		}
		if _, _, _, err := f.Stat(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
