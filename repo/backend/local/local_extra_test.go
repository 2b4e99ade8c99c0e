package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
)

// newCreated opens and creates a local backend in a new temporary directory.
func newCreated(t testing.TB) *Local {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "a", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l
}

// tmpFiles returns every ".tmp-" file under dir.
func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestLayoutAndModes(t *testing.T) {
	l := newCreated(t)
	ctx := context.Background()
	for _, d := range []string{"keys", "data", "data/00", "data/7f", "data/ff", "index", "snapshots", "locks"} {
		fi, err := os.Stat(filepath.Join(l.dir, d))
		if err != nil {
			t.Fatalf("missing directory %s: %v", d, err)
		}
		if perm := fi.Mode().Perm(); !fi.IsDir() || perm != dirMode {
			t.Errorf("%s: mode %v, want dir %o", d, fi.Mode(), dirMode)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(l.dir, "data"))
	if len(ents) != 256 {
		t.Errorf("data/ has %d entries, want 256", len(ents))
	}
	pack := backendtest.Name(1)
	pack = "ab" + pack[2:]
	files := map[backend.Handle]string{
		{Type: backend.MarkerFile, Name: "whatever"}: "immich-vault",
		{Type: backend.ConfigFile}:                   "config",
		{Type: backend.KeyFile, Name: "k1"}:          "keys/k1",
		{Type: backend.PackFile, Name: pack}:         "data/ab/" + pack,
		{Type: backend.IndexFile, Name: "i1"}:        "index/i1",
		{Type: backend.SnapshotFile, Name: "s1"}:     "snapshots/s1",
		{Type: backend.LockFile, Name: "l1"}:         "locks/l1",
	}
	for h, rel := range files {
		if err := l.Save(ctx, h, backend.NewByteReader([]byte(rel))); err != nil {
			t.Fatalf("Save %v: %v", h, err)
		}
		p := filepath.Join(l.dir, filepath.FromSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil || string(b) != rel {
			t.Fatalf("%v not at %s: %q, %v", h, rel, b, err)
		}
		fi, _ := os.Stat(p)
		if perm := fi.Mode().Perm(); perm != fileMode {
			t.Errorf("%s: mode %o, want %o", rel, perm, fileMode)
		}
	}
	if err := l.Create(ctx); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("Create over marker: %v", err)
	}
	if got := tmpFiles(t, l.dir); len(got) != 0 {
		t.Fatalf("temp files left: %v", got)
	}
}

// errAfterReader delivers n bytes of a longer announced length, then fails.
type errAfterReader struct {
	n, length int64
	off       int64
}

var errMidway = errors.New("reader broke midway")

func (r *errAfterReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, errMidway
	}
	m := min(int64(len(p)), r.n-r.off)
	clear(p[:m])
	r.off += m
	return int(m), nil
}
func (r *errAfterReader) Rewind() error { r.off = 0; return nil }
func (r *errAfterReader) Length() int64 { return r.length }

func TestNoLitterOnFailedSave(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			l := newCreated(t)
			l.noRenameat2 = fallback
			ctx := context.Background()
			h := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(3)}
			err := l.Save(ctx, h, &errAfterReader{n: 3 << 20, length: 4 << 20})
			if !errors.Is(err, errMidway) {
				t.Fatalf("Save: %v, want the reader's error", err)
			}
			// Refused overwrite must not leave the temp file either.
			idx := backend.Handle{Type: backend.IndexFile, Name: "x1"}
			if err := l.Save(ctx, idx, backend.NewByteReader([]byte("a"))); err != nil {
				t.Fatal(err)
			}
			if err := l.Save(ctx, idx, backend.NewByteReader([]byte("b"))); !errors.Is(err, backend.ErrExists) {
				t.Fatalf("overwrite: %v", err)
			}
			// A canceled context between chunks.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := l.Save(cctx, h, backend.NewByteReader(make([]byte, 10))); !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled Save: %v", err)
			}
			if got := tmpFiles(t, l.dir); len(got) != 0 {
				t.Fatalf("temp files left: %v", got)
			}
			if _, err := l.Stat(ctx, h); !errors.Is(err, backend.ErrNotFound) {
				t.Fatalf("failed Save left the target: %v", err)
			}
		})
	}
}

func TestListSkipsTempFiles(t *testing.T) {
	l := newCreated(t)
	for _, p := range []string{"index/.tmp-123", "data/ab/.tmp-456"} {
		if err := os.WriteFile(filepath.Join(l.dir, p), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, ft := range []backend.FileType{backend.IndexFile, backend.PackFile} {
		err := l.List(context.Background(), ft, func(fi backend.FileInfo) error {
			return fmt.Errorf("listed %q", fi.Name)
		})
		if err != nil {
			t.Fatalf("List %s: %v", ft, err)
		}
	}
}

func TestMissingDirectory(t *testing.T) {
	// A repository that is not there (e.g. an unmounted disk): reads say
	// not found, listing is empty, and Save does not create directories.
	l, err := Open(filepath.Join(t.TempDir(), "not-mounted"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.List(ctx, backend.PackFile, func(backend.FileInfo) error { return errors.New("listed") }); err != nil {
		t.Fatalf("List: %v", err)
	}
	if _, err := l.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
	if err := l.Save(ctx, backend.Handle{Type: backend.IndexFile, Name: "i"}, backend.NewByteReader(nil)); err == nil {
		t.Fatal("Save into a missing repository succeeded")
	}
	if _, err := os.Stat(l.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Save created the repository directory: %v", err)
	}
}

func TestOptions(t *testing.T) {
	l, err := OpenWithOptions(t.TempDir(), Options{Connections: 7})
	if err != nil {
		t.Fatal(err)
	}
	if p := l.Properties(); p.Connections != 7 || p.HasAtomicReplace {
		t.Fatalf("Properties = %+v", p)
	}
	l, _ = Open("x")
	if l.Properties().Connections != DefaultConnections || l.Location() != "x" {
		t.Fatalf("defaults: %+v %q", l.Properties(), l.Location())
	}
	if _, err := OpenWithOptions("x", Options{Connections: -1}); err == nil {
		t.Fatal("negative connections accepted")
	}
	if _, err := Open(""); err == nil {
		t.Fatal("empty dir accepted")
	}
}

func TestDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noPrealloc bool // ENOSPC from write(2) instead of fallocate(2)
		fallback   bool
	}{
		{"fallocate", false, false},
		{"write", true, false},
		{"write+link", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := mountTmpfs(t, "1m")
			l, err := Open(filepath.Join(mnt, "repo"))
			if err != nil {
				t.Fatal(err)
			}
			l.noPrealloc, l.noRenameat2 = tc.noPrealloc, tc.fallback
			ctx := context.Background()
			if err := l.Create(ctx); err != nil {
				t.Fatal(err)
			}
			// Fill the disk with 64 KiB files until it is full.
			var saved int
			for i := range 100 {
				h := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(uint64(i))}
				err := l.Save(ctx, h, backend.NewByteReader(backendtest.Data(uint64(i), 64<<10)))
				if err == nil {
					saved++
					continue
				}
				if !errors.Is(err, backend.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Save on a full disk: %v, want ErrNoSpace wrapping ENOSPC", err)
				}
				break
			}
			if saved == 0 || saved >= 100 {
				t.Fatalf("saved %d files on a 1 MiB disk", saved)
			}
			big := backend.Handle{Type: backend.IndexFile, Name: "big"}
			err = l.Save(ctx, big, backend.NewByteReader(make([]byte, 2<<20)))
			if !errors.Is(err, backend.ErrNoSpace) {
				t.Fatalf("2 MiB Save: %v, want ErrNoSpace", err)
			}
			if got := tmpFiles(t, mnt); len(got) != 0 {
				t.Fatalf("temp files left on a full disk: %v", got)
			}
			n := 0
			err = l.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
				if fi.Size != 64<<10 {
					return fmt.Errorf("%s has %d bytes", fi.Name, fi.Size)
				}
				n++
				return nil
			})
			if err != nil || n != saved {
				t.Fatalf("List: %d files, %v; want %d complete files", n, err, saved)
			}
			// Space freed: saving works again.
			first := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(0)}
			if err := l.Remove(ctx, first); err != nil {
				t.Fatal(err)
			}
			if err := l.Save(ctx, big, backend.NewByteReader([]byte("small"))); err != nil {
				t.Fatalf("Save after freeing space: %v", err)
			}
		})
	}
}

func BenchmarkSave(b *testing.B) {
	for _, size := range []int{4 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			l := newCreated(b)
			ctx := context.Background()
			data := backendtest.Data(1, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				h := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(uint64(i))}
				if err := l.Save(ctx, h, backend.NewByteReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	const size = 64 << 20
	l := newCreated(b)
	ctx := context.Background()
	h := backend.Handle{Type: backend.PackFile, Name: backendtest.Name(1)}
	if err := l.Save(ctx, h, backend.NewByteReader(backendtest.Data(1, size))); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		err := l.Load(ctx, h, 0, 0, func(rd io.Reader) error {
			_, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rd}, buf)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestMoveNoReplace checks the rename step itself (Save's early existence
// check would otherwise hide it): it never replaces an existing target.
func TestMoveNoReplace(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			dir := t.TempDir()
			l := &Local{dir: dir, noRenameat2: fallback}
			tmp, target := filepath.Join(dir, ".tmp-1"), filepath.Join(dir, "target")
			for _, f := range []struct{ p, s string }{{tmp, "new"}, {target, "old"}} {
				if err := os.WriteFile(f.p, []byte(f.s), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.moveNoReplace(tmp, target); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("moveNoReplace over existing: %v, want ErrExist", err)
			}
			if b, _ := os.ReadFile(target); string(b) != "old" {
				t.Fatalf("target replaced: %q", b)
			}
			if err := os.Remove(target); err != nil {
				t.Fatal(err)
			}
			if err := l.moveNoReplace(tmp, target); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(target); string(b) != "new" {
				t.Fatalf("target = %q, want new", b)
			}
			if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("temp file still there: %v", err)
			}
		})
	}
}
