package ceiling

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteTree: the written tree has the source's directories, file
// names and sizes, every file the mtime set, and nothing else.
func TestWriteTree(t *testing.T) {
	src := t.TempDir()
	sizes := map[string]int64{"a/x": 0, "a/b/y": 3 << 20, "a/b/c/z": 17, "top": 1<<20 + 1}
	for rel, n := range sizes {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(src, "empty"), 0o755)
	plan, err := PlanTree(src)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Files != 4 || plan.Bytes != 3<<20+17+1<<20+1 || len(plan.Dirs) != 5 {
		t.Fatalf("plan: %d files, %d bytes, %d dirs; want 4, %d, 5 (., a, a/b, a/b/c, empty)", plan.Files, plan.Bytes, len(plan.Dirs), 3<<20+17+1<<20+1)
	}
	dst := filepath.Join(t.TempDir(), "out")
	res, err := WriteTree(plan, dst, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 4 || res.Bytes != plan.Bytes || res.Time <= 0 {
		t.Errorf("result %+v", res)
	}
	got := map[string]int64{}
	filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dst, p)
		if fi.Mode().IsRegular() {
			got[rel] = fi.Size()
			if fi.ModTime().Year() != 2026 {
				t.Errorf("%s: mtime %v not set", rel, fi.ModTime())
			}
		}
		return nil
	})
	if len(got) != len(sizes) {
		t.Errorf("wrote %v, want %v", got, sizes)
	}
	for rel, n := range sizes {
		if got[rel] != n {
			t.Errorf("%s: %d bytes, want %d", rel, got[rel], n)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory not created: %v", err)
	}
	// dst must not exist: a second pass into it fails.
	if _, err := WriteTree(plan, dst, 3); err == nil {
		t.Error("WriteTree into an existing directory succeeded")
	}
}
