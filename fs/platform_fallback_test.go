package fs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The portable source reader (srcfile_portable.go) is what Windows backs
// up through; it builds on every system, so it is tested here on Linux.
func TestPortableSourceReader(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "b-file")
	if err := os.WriteFile(file, []byte("hello portable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "c-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b-file", filepath.Join(dir, "a-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("c-dir", filepath.Join(dir, "d-dirlink")); err != nil {
		t.Fatal(err)
	}

	f, err := openPortable(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "hello portable" {
		t.Fatalf("read %q, %v", b, err)
	}
	size, mtime, regular, err := f.Stat()
	fi, _ := os.Lstat(file)
	if err != nil || size != 14 || !regular || !mtime.Equal(fi.ModTime()) {
		t.Fatalf("stat: size %d mtime %v regular %v err %v; lstat mtime %v", size, mtime, regular, err, fi.ModTime())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// No final symlink is followed, nothing but a regular file is opened.
	for _, name := range []string{"a-link", "c-dir", "missing"} {
		if f, err := openPortable(filepath.Join(dir, name)); err == nil {
			f.Close()
			t.Errorf("openPortable(%s) succeeded", name)
		}
	}
	if _, err := openPortable(filepath.Join(dir, "a-link")); !errors.Is(err, errNotSameFile) {
		t.Errorf("symlink: %v, want errNotSameFile", err)
	}

	d, err := openPortableDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	names, err := d.Names()
	if want := []string{"a-link", "b-file", "c-dir", "d-dirlink"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v, %v; want %v", names, err, want)
	}
	li, err := d.Lstat("a-link", filepath.Join(dir, "a-link"))
	if err != nil || li.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("lstat of a symlink: %v, %v (followed?)", li, err)
	}
	if d2, err := openPortableDir(filepath.Join(dir, "d-dirlink")); err == nil {
		d2.Close()
		t.Error("openPortableDir followed a symlink")
	}
}
