package main_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// nodeInfo is everything a restore must reproduce about one node.
type nodeInfo struct {
	Mode    fs.FileMode // type bits, permissions, setuid/setgid/sticky
	UID     uint32
	GID     uint32
	Size    int64 // regular files only
	MtimeNs int64
	Target  string // symlinks only
	dev     uint64
	ino     uint64
	nlink   uint64
	blocks  int64
}

func (n nodeInfo) String() string {
	s := fmt.Sprintf("mode=%v uid=%d gid=%d mtime=%s", n.Mode, n.UID, n.GID,
		time.Unix(0, n.MtimeNs).UTC().Format(time.RFC3339Nano))
	if n.Mode.IsRegular() {
		s += fmt.Sprintf(" size=%d", n.Size)
	}
	if n.Mode&fs.ModeSymlink != 0 {
		s += fmt.Sprintf(" target=%q", n.Target)
	}
	return s
}

func lstatNode(t *testing.T, path string) nodeInfo {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	n := nodeInfo{
		Mode:    fi.Mode(),
		MtimeNs: fi.ModTime().UnixNano(),
	}
	statSys(&n, fi)
	if fi.Mode().IsRegular() {
		n.Size = fi.Size()
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		n.Target, err = os.Readlink(path)
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// scanTree returns every node under root (root itself excluded) by its path
// relative to root.
func scanTree(t *testing.T, root string) map[string]nodeInfo {
	t.Helper()
	m := map[string]nodeInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		m[rel] = lstatNode(t, p)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return m
}

// hardlinkGroups returns the sets (sorted, joined by NUL) of paths that
// share an inode, for inodes with more than one name in the tree.
func hardlinkGroups(tree map[string]nodeInfo) []string {
	byIno := map[[2]uint64][]string{}
	for p, n := range tree {
		if n.Mode.IsRegular() {
			k := [2]uint64{n.dev, n.ino}
			byIno[k] = append(byIno[k], p)
		}
	}
	var groups []string
	for _, ps := range byIno {
		if len(ps) > 1 {
			sort.Strings(ps)
			groups = append(groups, strings.Join(ps, "\x00"))
		}
	}
	sort.Strings(groups)
	return groups
}

type compareOpts struct {
	ignoreOwner bool            // not root: uid/gid cannot be restored
	skip        map[string]bool // relative paths not compared (nor required)
}

// compareTrees reports every difference between the trees under src and dst:
// missing and extra nodes, type, mode, owner, size, mtime (ns), symlink
// target, content (byte by byte) and hardlink grouping.
func compareTrees(t *testing.T, src, dst string, o compareOpts) {
	t.Helper()
	a, b := scanTree(t, src), scanTree(t, dst)
	var paths []string
	for p := range a {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	diffs := 0
	report := func(format string, args ...any) {
		t.Helper()
		diffs++
		if diffs <= 60 {
			t.Errorf(format, args...)
		}
	}
	for _, p := range paths {
		if o.skip[p] {
			continue
		}
		na := a[p]
		nb, ok := b[p]
		if !ok {
			report("restore lacks %q (%v)", p, na)
			continue
		}
		if na.Mode != nb.Mode {
			report("%q: mode %v, restored %v", p, na.Mode, nb.Mode)
		}
		if !o.ignoreOwner && (na.UID != nb.UID || na.GID != nb.GID) {
			report("%q: owner %d:%d, restored %d:%d", p, na.UID, na.GID, nb.UID, nb.GID)
		}
		if na.MtimeNs != nb.MtimeNs {
			report("%q: mtime %s, restored %s", p,
				time.Unix(0, na.MtimeNs).UTC().Format(time.RFC3339Nano),
				time.Unix(0, nb.MtimeNs).UTC().Format(time.RFC3339Nano))
		}
		if na.Target != nb.Target {
			report("%q: symlink target %q, restored %q", p, na.Target, nb.Target)
		}
		if na.Mode.IsRegular() && nb.Mode.IsRegular() {
			if na.Size != nb.Size {
				report("%q: size %d, restored %d", p, na.Size, nb.Size)
			} else if off, err := firstDifference(filepath.Join(src, p), filepath.Join(dst, p)); err != nil {
				report("%q: compare content: %v", p, err)
			} else if off >= 0 {
				report("%q: content differs at offset %d", p, off)
			}
		}
	}
	for p, nb := range b {
		if _, ok := a[p]; !ok && !o.skip[p] {
			report("restore has extra node %q (%v)", p, nb)
		}
	}
	ga, gb := hardlinkGroups(filterTree(a, o.skip)), hardlinkGroups(filterTree(b, o.skip))
	if strings.Join(ga, "\n") != strings.Join(gb, "\n") {
		report("hardlink groups differ:\nsource:   %q\nrestored: %q", ga, gb)
	}
	if diffs > 60 {
		t.Errorf("... and %d more differences", diffs-60)
	}
}

func filterTree(m map[string]nodeInfo, skip map[string]bool) map[string]nodeInfo {
	out := make(map[string]nodeInfo, len(m))
	for p, n := range m {
		if !skip[p] {
			out[p] = n
		}
	}
	return out
}

// firstDifference compares two files block by block; -1 means equal.
func firstDifference(a, b string) (int64, error) {
	fa, err := os.Open(a)
	if err != nil {
		return 0, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return 0, err
	}
	defer fb.Close()
	const block = 1 << 20
	ba, bb := make([]byte, block), make([]byte, block)
	var off int64
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if erra != nil && erra != io.EOF && erra != io.ErrUnexpectedEOF {
			return 0, erra
		}
		if errb != nil && errb != io.EOF && errb != io.ErrUnexpectedEOF {
			return 0, errb
		}
		n := min(na, nb)
		if !bytes.Equal(ba[:n], bb[:n]) {
			for i := range n {
				if ba[i] != bb[i] {
					return off + int64(i), nil
				}
			}
		}
		if na != nb {
			return off + int64(n), nil
		}
		if na < block {
			return -1, nil
		}
		off += int64(na)
	}
}

// randomBytes returns n deterministic pseudo-random bytes for seed.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// setAllMtimes gives every node under root (root included) a distinct
// timestamp with a non-zero nanosecond part, children before parents so
// that directory mtimes stick.
func setAllMtimes(t *testing.T, root string, base time.Time) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(paths) - 1; i >= 0; i-- {
		setMtime(t, paths[i], base.Add(time.Duration(i)*time.Second+time.Duration(i*7919+1)*time.Nanosecond))
	}
}

// fileListing records path, size and mtime of every regular file and the
// existence of every directory under root, for "nothing was written" checks.
func fileListing(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			lines = append(lines, fmt.Sprintf("dir %s", rel))
		} else {
			lines = append(lines, fmt.Sprintf("%v %s size=%d mtime=%d", fi.Mode(), rel, fi.Size(), fi.ModTime().UnixNano()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// sharedTempDir is a temp dir that the unprivileged user of the setpriv test
// can use (t.TempDir's parents are 0700 root).
func sharedTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "immich-vault-e2e-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Make everything removable again (0000 dirs) before deleting.
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if d != nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chownTree chowns every node under root (root included), not following
// symlinks.
func chownTree(t *testing.T, root string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}
