package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// sparseSize is the apparent size of the sparse file of the bit-identical
// restore test; sparseDataOff is where its only data lives.
const (
	sparseSize    = 3 * gib
	sparseDataOff = 1*gib + 12345
	sparseDataLen = 64 * kib
	// maxSparseAlloc is the most disk space a restored sparse file may use.
	maxSparseAlloc = 64 * mib
)

// buildRichTree creates under src everything the bit-identical restore must
// reproduce and returns the relative path of the sparse file.
func buildRichTree(t *testing.T, src string) string {
	t.Helper()
	root := os.Geteuid() == 0
	mustMkdirAll(t, src)

	// Regular files: empty, 1 byte, and sizes around the chunker's
	// minimum, average and maximum sizes, plus a large random file.
	sizes := map[string]int{
		"empty":           0,
		"one-byte":        1,
		"size-256k-1":     256*kib - 1,
		"size-256k":       256 * kib,
		"size-256k+1":     256*kib + 1,
		"size-512k":       512 * kib,
		"size-1m-1":       1*mib - 1,
		"size-1m":         1 * mib,
		"size-1m+1":       1*mib + 1,
		"size-4m":         4 * mib,
		"size-8m-1":       8*mib - 1,
		"size-8m":         8 * mib,
		"size-8m+1":       8*mib + 1,
		"random-20m":      20 * mib,
		"sub/size-64k":    64 * kib,
		"sub/deeper/7777": 7777,
	}
	seed := uint64(1)
	for name, n := range sizes {
		seed++
		mustWrite(t, filepath.Join(src, name), randomBytes(seed, n), 0o644)
	}
	// Compressible content (zstd path) and content shared between files
	// (dedup path).
	text := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. 0123456789\n", 40000))
	mustWrite(t, filepath.Join(src, "compressible.txt"), text, 0o644)
	mustWrite(t, filepath.Join(src, "sub/copy-of-compressible.txt"), text, 0o644)

	// A 3 GiB sparse file with one data region and a trailing hole.
	sparse := "sparse-3g"
	f, err := os.Create(filepath.Join(src, sparse))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(sparseSize); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(randomBytes(99, sparseDataLen), sparseDataOff); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lstatNode(t, filepath.Join(src, sparse)); n.blocks*512 >= maxSparseAlloc {
		t.Fatalf("the test filesystem does not keep %s sparse (%d blocks)", sparse, n.blocks)
	}

	// Permissions. Owners are changed before modes (chown clears setuid).
	perms := map[string]os.FileMode{
		"perm-0600": 0o600,
		"perm-0755": 0o755,
		"perm-0444": 0o444,
		"perm-0000": 0,
		"perm-4755": 0o755 | os.ModeSetuid,
		"perm-2750": 0o750 | os.ModeSetgid,
	}
	for name, m := range perms {
		seed++
		mustWrite(t, filepath.Join(src, name), randomBytes(seed, 1000+int(seed)), 0o644)
		if root && name != "perm-4755" {
			if err := os.Chown(filepath.Join(src, name), 1234, 5678); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(filepath.Join(src, name), m); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, filepath.Join(src, "dir-0700/inside.txt"), []byte("inside a 0700 dir\n"), 0o640)
	mustWrite(t, filepath.Join(src, "dir-0555/inside.txt"), []byte("inside a read-only dir\n"), 0o600)
	mustMkdirAll(t, filepath.Join(src, "dir-sticky-1777"))
	if root {
		for p, o := range map[string][2]int{
			"dir-0700":            {4321, 8765},
			"dir-0700/inside.txt": {4321, 8765},
			"owned-by-nobody.txt": {65534, 65534},
		} {
			if p == "owned-by-nobody.txt" {
				mustWrite(t, filepath.Join(src, p), []byte("nobody\n"), 0o644)
			}
			if err := os.Lchown(filepath.Join(src, p), o[0], o[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p, m := range map[string]os.FileMode{
		"dir-0700":        0o700,
		"dir-0555":        0o555,
		"dir-sticky-1777": 0o777 | os.ModeSticky,
	} {
		if err := os.Chmod(filepath.Join(src, p), m); err != nil {
			t.Fatal(err)
		}
	}

	// Symlinks: relative, absolute, dangling, to a directory, upwards.
	links := map[string]string{
		"link-relative": "one-byte",
		"link-absolute": "/etc/hostname",
		"link-dangling": "does/not/exist",
		"link-to-dir":   "sub",
		"sub/link-up":   "../size-256k",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	if root {
		if err := os.Lchown(filepath.Join(src, "link-dangling"), 1111, 2222); err != nil {
			t.Fatal(err)
		}
	}

	// Hardlinks: a pair across directories and a group of three.
	mustWrite(t, filepath.Join(src, "hard-a"), randomBytes(500, 100*kib), 0o640)
	mustMkdirAll(t, filepath.Join(src, "other"))
	if err := os.Link(filepath.Join(src, "hard-a"), filepath.Join(src, "other/hard-b")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(src, "triple-1"), []byte("three names, one inode\n"), 0o600)
	for _, n := range []string{"triple-2", "sub/triple-3"} {
		if err := os.Link(filepath.Join(src, "triple-1"), filepath.Join(src, n)); err != nil {
			t.Fatal(err)
		}
	}

	// Empty directories.
	mustMkdirAll(t, filepath.Join(src, "empty-dir"))
	mustMkdirAll(t, filepath.Join(src, "nested-empty/a/b/c"))

	// Awkward names: spaces, unicode, newline, tab, quotes, a leading dash,
	// and 255-byte names (ASCII and multi-byte).
	names := []string{
		"name with spaces.txt",
		"ünïcødé-名前-🙂.txt",
		"new\nline.txt",
		"tab\tand 'quotes\" and \\backslash.txt",
		"-leading-dash",
		"*glob?[chars]",
		strings.Repeat("x", 251) + ".bin",
		strings.Repeat("é", 127) + "a",
	}
	for i, n := range names {
		if len(n) > 255 {
			t.Fatalf("name %d is %d bytes", i, len(n))
		}
		mustWrite(t, filepath.Join(src, "names", n), randomBytes(uint64(1000+i), 100+i), 0o644)
	}
	mustMkdirAll(t, filepath.Join(src, "names", "dir with spaces and ✓"))
	mustWrite(t, filepath.Join(src, "names", strings.Repeat("d", 255), "f"), []byte("in a dir with a 255-byte name"), 0o644)

	// A 60-level deep tree with a file at the bottom and one halfway.
	deep := filepath.Join(src, "deep")
	for i := 1; i <= 60; i++ {
		deep = filepath.Join(deep, "level-"+strings.Repeat("n", i%7)+string(rune('a'+i%26)))
		if i == 30 {
			mustWrite(t, filepath.Join(deep, "halfway.txt"), []byte("halfway\n"), 0o644)
		}
	}
	mustWrite(t, filepath.Join(deep, "leaf.txt"), []byte("at the bottom of 60 levels\n"), 0o644)

	// Distinct nanosecond mtimes on every node, symlinks included.
	setAllMtimes(t, src, time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC))
	return sparse
}

// TestRestoreBitIdentical backs up a tree holding every kind of node and
// awkward file and checks that restore reproduces it exactly.
func TestRestoreBitIdentical(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	sparse := buildRichTree(t, src)
	e.initRepo()

	sum, _ := e.backup(exitOK, src)
	if sum.Partial || sum.Errors != 0 {
		t.Errorf("backup of a fully readable tree: partial=%v errors=%d", sum.Partial, sum.Errors)
	}

	dst := filepath.Join(e.dir, "restore")
	e.ok("restore", "latest:"+src, "--target", dst)
	compareTrees(t, src, dst, compareOpts{ignoreOwner: os.Geteuid() != 0})

	n := lstatNode(t, filepath.Join(dst, sparse))
	if n.Size != sparseSize {
		t.Errorf("restored sparse file: size %d, want %d", n.Size, int64(sparseSize))
	}
	if alloc := n.blocks * 512; alloc >= maxSparseAlloc {
		t.Errorf("restored sparse file is not sparse: %d bytes allocated (st_blocks %d), want < %d",
			alloc, n.blocks, maxSparseAlloc)
	}
}
