//go:build linux

package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/data"
)

// TestTargetRootNeverFollowsSymlinks checks the target resolver both with
// openat2 (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) and with the one-openat-per-
// component fallback used on kernels without it: a symlink on the way or at
// the end is refused, whether it points outside the target or inside it,
// and paths longer than PATH_MAX resolve.
func TestTargetRootNeverFollowsSymlinks(t *testing.T) {
	for _, beneath := range []bool{true, false} {
		name := "openat2"
		if !beneath {
			name = "per-component"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			outside := filepath.Join(dir, "outside")
			target := filepath.Join(dir, "target")
			rsMust(t, os.MkdirAll(outside, 0o755))
			rsMust(t, os.MkdirAll(filepath.Join(target, "real"), 0o755))
			rsMust(t, os.Symlink(outside, filepath.Join(target, "out")))
			rsMust(t, os.Symlink("real", filepath.Join(target, "in")))
			rsMust(t, os.WriteFile(filepath.Join(target, "real", "f"), []byte("x"), 0o644))
			rsMust(t, os.Symlink(filepath.Join(outside, "new"), filepath.Join(target, "dangling")))

			root, err := OpenTargetRoot(target)
			rsMust(t, err)
			defer root.Close()
			if beneath && !root.beneath {
				t.Skip("openat2 RESOLVE_BENEATH is not available on this kernel")
			}
			root.beneath = beneath

			for _, rel := range []string{"out/new", "in/f", "in/new", "dangling", "out", "in"} {
				if err := root.CreateSized(rel, 1); err == nil {
					t.Errorf("createSized(%q) went through a symlink", rel)
				}
				if _, err := root.OpenWrite(rel); err == nil {
					t.Errorf("openWrite(%q) went through a symlink", rel)
				}
				if err := root.SetMeta(rel, &data.Node{Type: data.NodeDir, Mode: 0o700}); err == nil {
					t.Errorf("setMeta(%q) went through a symlink", rel)
				}
			}
			for _, rel := range []string{"out", "in"} {
				if fd, err := root.ResolveDir(rel); err == nil {
					CloseDir(fd)
					t.Errorf("resolveDir(%q) followed a symlink", rel)
				}
			}
			if err := root.Link("in/f", "real/g"); err == nil {
				t.Errorf("link through a symlinked directory succeeded")
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("something was created outside the target: %v", entries)
			}
			if err := root.CreateSized("real/g", 3); err != nil {
				t.Errorf("createSized of a plain path: %v", err)
			}

			// A path longer than PATH_MAX.
			rel := "real"
			for i := range 20 {
				rel += "/" + strings.Repeat(string(rune('a'+i)), 250)
				h, err := root.ResolveDir(filepath.Dir(rel))
				rsMust(t, err)
				err = root.Mkdir(h, filepath.Base(rel))
				CloseDir(h)
				rsMust(t, err)
			}
			rel += "/leaf"
			if len(rel) <= unix.PathMax {
				t.Fatalf("test setup: %d-byte path", len(rel))
			}
			if err := root.WriteNew(rel, []byte("deep"), &data.Node{Type: data.NodeFile, Mode: 0o640}); err != nil {
				t.Fatalf("writeNew of a %d-byte path: %v", len(rel), err)
			}
			f, nlink, err := root.OpenRead(rel)
			rsMust(t, err)
			var st unix.Stat_t
			rsMust(t, unix.Fstat(int(f.Fd()), &st))
			f.Close()
			if nlink != 1 || st.Size != 4 || st.Mode&0o777 != 0o640 {
				t.Errorf("long-path file: nlink %d size %d mode %o", nlink, st.Size, st.Mode&0o777)
			}
			// A symlink deep in a long path is refused too.
			deepDir := rel[:strings.LastIndexByte(rel, '/')]
			h, err := root.ResolveDir(deepDir)
			rsMust(t, err)
			rsMust(t, unix.Symlinkat(outside, h, "esc"))
			CloseDir(h)
			if err := root.CreateSized(deepDir+"/esc/x", 1); err == nil || !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
				t.Errorf("createSized through a symlink at the end of a long path: %v", err)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("something was created outside the target: %v", entries)
			}
		})
	}
}

func rsMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
