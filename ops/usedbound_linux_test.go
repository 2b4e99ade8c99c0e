package ops

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/photo\040library`: "/mnt/photo library",
		`/a\011b\134c`:          "/a\tb\\c",
		`/plain`:                "/plain",
		`/short\04`:             `/short\04`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSourceBoundCountsNestedMounts: the bound of a directory holds its
// own file system's used bytes and those of a file system mounted below
// it (here a tmpfs holding 4 MiB), each once, and refuses (ok false) a
// root it cannot bound.
func TestSourceBoundCountsNestedMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	inner := filepath.Join(dir, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", inner, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(inner, syscall.MNT_DETACH)

	var outer syscall.Statfs_t
	if err := syscall.Statfs(dir, &outer); err != nil {
		t.Fatal(err)
	}
	if !boundFS[int64(outer.Type)] {
		t.Skipf("the test directory's file system (type %#x) is not one SourceBound trusts", outer.Type)
	}
	before, ok := SourceBound([]string{inner})
	if !ok {
		t.Fatal("no bound for a tmpfs")
	}
	if err := os.WriteFile(filepath.Join(inner, "f"), make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	after, ok := SourceBound([]string{inner})
	if !ok || after < before+4<<20 {
		t.Fatalf("bound of the tmpfs after writing 4 MiB: %d (ok %v), before %d", after, ok, before)
	}
	whole, ok := SourceBound([]string{dir, dir, inner})
	if !ok {
		t.Fatal("no bound for the test directory")
	}
	// Each file system once: the outer one and the tmpfs mounted below.
	// (The outer one's usage moves with the machine: only its lower end
	// is known.)
	if whole < after {
		t.Fatalf("bound %d of the directory does not include the tmpfs below it (%d)", whole, after)
	}
	if got, ok := SourceBound([]string{"/proc/self"}); ok {
		t.Fatalf("procfs bounded (%d): it is not a file system SourceBound trusts", got)
	}
}

// TestCountsChanged: backup's preflight walks unless the used bytes of
// the source's file systems, with SpaceNeed's margin, fit the free space;
// a source SourceBound cannot bound is always walked.
func TestCountsChanged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	used, ok := SourceBound([]string{dir})
	if !ok || used < 1<<20 {
		t.Fatalf("bound of a tmpfs holding 1 MiB: %d (ok %v)", used, ok)
	}
	need := SpaceNeed(used)
	if need < used+used/64+4<<20 {
		t.Fatalf("SpaceNeed(%d) = %d: no margin", used, need)
	}
	for _, c := range []struct {
		free uint64
		walk bool
	}{{need, false}, {need - 1, true}, {used, true}, {0, true}} {
		walk, got := CountsChanged([]string{dir}, c.free)
		if walk != c.walk || got != used {
			t.Errorf("CountsChanged with %d free = (%v, %d), want (%v, %d)", c.free, walk, got, c.walk, used)
		}
	}
	if walk, got := CountsChanged([]string{"/proc/self"}, ^uint64(0)); !walk || got != 0 {
		t.Errorf("CountsChanged of procfs = (%v, %d), want a walk and no bound", walk, got)
	}
}
