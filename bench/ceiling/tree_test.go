package ceiling

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestWalkAndReadTree(t *testing.T) {
	root := t.TempDir()
	var files int
	var bytes int64
	for i := range 300 {
		d := filepath.Join(root, fmt.Sprintf("%02x", i%7), fmt.Sprintf("%02x", i%13))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, i*17)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprint(i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		files++
		bytes += int64(len(b))
	}
	if err := os.Symlink("00", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{1, 4} {
		r, err := WalkTree(root, w)
		if err != nil {
			t.Fatal(err)
		}
		if r.Files != files || r.Dirs != 1+7+7*13 || r.Bytes != 0 {
			t.Fatalf("WalkTree(%d): %+v, want %d files, %d dirs", w, r, files, 1+7+7*13)
		}
		r, err = ReadTree(root, w)
		if err != nil {
			t.Fatal(err)
		}
		if r.Files != files || r.Bytes != bytes {
			t.Fatalf("ReadTree(%d): %+v, want %d files, %d bytes", w, r, files, bytes)
		}
	}
	if _, err := WalkTree(filepath.Join(root, "missing"), 2); err == nil {
		t.Fatal("WalkTree of a missing directory: no error")
	}
}
