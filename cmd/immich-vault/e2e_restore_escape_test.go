//go:build linux

package main_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Restore must never write outside its target: no symlink found in the
// target (left there by someone else or by an earlier restore) is followed,
// and an entry of the wrong type is replaced when the overwrite policy says
// so. These tests put a directory "elsewhere" next to the target, point
// symlinks in the target at it and check that nothing in it changed:
// names, contents, modes, owners and mtimes.

// outsideState records everything about the tree at root (root included)
// that a restore writing through a symlink would change.
func outsideState(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	add := func(rel string, n nodeInfo, p string) {
		line := fmt.Sprintf("%s %v", rel, n)
		if n.Mode.IsRegular() {
			line += fmt.Sprintf(" sha256=%x", sha256.Sum256(mustRead(t, p)))
		}
		lines = append(lines, line)
	}
	add(".", lstatNode(t, root), root)
	for rel, n := range scanTree(t, root) {
		add(rel, n, filepath.Join(root, rel))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// makeElsewhere creates the directory a hostile symlink points at: a few
// files, some with the names the snapshot uses, with modes, owners (when
// root) and mtimes that differ from the snapshot's.
func makeElsewhere(t *testing.T, dir string, bigContent []byte) {
	t.Helper()
	mustMkdirAll(t, filepath.Join(dir, "sub"))
	mustWrite(t, filepath.Join(dir, "f"), []byte("outside f, must stay\n"), 0o604)
	mustWrite(t, filepath.Join(dir, "big"), bigContent, 0o606) // same content as the snapshot's: if-changed keeps it but would set its metadata
	mustWrite(t, filepath.Join(dir, "precious"), []byte("precious\n"), 0o600)
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		chownTree(t, dir, 4242, 4343)
	}
	setAllMtimes(t, dir, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
}

// makeEscapeSource creates under src a directory "dir" holding every kind
// of node restore writes in a different code path: a one-blob file, a
// multi-blob file, a symlink, a FIFO, a subdirectory and one half of a hard
// link pair (the other half outside "dir"). It returns the big file's
// content.
func makeEscapeSource(t *testing.T, src string) []byte {
	t.Helper()
	big := randomBytes(11, 5*mib) // several blobs
	mustMkdirAll(t, filepath.Join(src, "dir", "sub"))
	mustWrite(t, filepath.Join(src, "dir", "f"), []byte("snapshot f\n"), 0o640)
	mustWrite(t, filepath.Join(src, "dir", "big"), big, 0o644)
	mustWrite(t, filepath.Join(src, "dir", "sub", "g"), []byte("snapshot g\n"), 0o600)
	if err := os.Symlink("f", filepath.Join(src, "dir", "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(src, "dir", "fifo"), 0o620); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(src, "h0"), []byte("hard linked\n"), 0o644)
	if err := os.Link(filepath.Join(src, "h0"), filepath.Join(src, "dir", "h1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "dir"), 0o750); err != nil {
		t.Fatal(err)
	}
	setAllMtimes(t, src, time.Date(2022, 6, 7, 8, 9, 10, 0, time.UTC))
	return big
}

// checkEscapeRestored checks that dst/dir is a real directory holding the
// snapshot's "dir".
func checkEscapeRestored(t *testing.T, dst string, big []byte) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(dst, "dir"))
	if err != nil || !fi.IsDir() {
		t.Errorf("%s/dir after restore: %v, %v; want a directory", dst, fi, err)
		return
	}
	for name, want := range map[string][]byte{"f": []byte("snapshot f\n"), "big": big, "sub/g": []byte("snapshot g\n"), "h1": []byte("hard linked\n")} {
		got, err := os.ReadFile(filepath.Join(dst, "dir", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored dir/%s: %d bytes, %v; want the snapshot's %d bytes", name, len(got), err, len(want))
		}
	}
	if tgt, err := os.Readlink(filepath.Join(dst, "dir", "link")); err != nil || tgt != "f" {
		t.Errorf("restored dir/link: %q, %v; want a symlink to f", tgt, err)
	}
}

// TestRestoreSymlinkInTargetNotFollowed: the target holds dir -> elsewhere
// and the snapshot has a directory "dir"; restore with --overwrite always
// or if-changed must replace the symlink by a directory, not write into
// (or chmod, chown, touch) elsewhere; --overwrite never keeps the symlink
// and restores nothing through it.
func TestRestoreSymlinkInTargetNotFollowed(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"always", "if-changed", "never"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			src := filepath.Join(e.dir, "src")
			big := makeEscapeSource(t, src)
			e.initRepo()
			e.backup(exitOK, src)

			elsewhere := filepath.Join(e.dir, "elsewhere")
			makeElsewhere(t, elsewhere, big)
			before := outsideState(t, elsewhere)

			dst := filepath.Join(e.dir, "restore")
			mustMkdirAll(t, dst)
			if err := os.Symlink(elsewhere, filepath.Join(dst, "dir")); err != nil {
				t.Fatal(err)
			}
			r := e.run("restore", "latest:"+src, "--target", dst, "--overwrite", policy)
			if after := outsideState(t, elsewhere); after != before {
				t.Errorf("restore --overwrite %s changed a directory outside its target through the symlink %s/dir:\nbefore:\n%s\nafter:\n%s\n%v",
					policy, dst, before, after, r)
			}
			if policy == "never" {
				// The symlink is kept and nothing is restored through it.
				wantCode(t, r, exitFailure)
				if tgt, err := os.Readlink(filepath.Join(dst, "dir")); err != nil || tgt != elsewhere {
					t.Errorf("restore --overwrite never: dir is %q, %v; want the existing symlink kept", tgt, err)
				}
				return
			}
			wantCode(t, r, exitOK)
			checkEscapeRestored(t, dst, big)
		})
	}
}

// TestRestoreSymlinkFromEarlierSnapshotNotFollowed: a first restore puts
// x -> elsewhere into the target (the snapshot had that symlink); a second
// restore of a snapshot where x is a directory, into the same target, must
// replace the symlink instead of writing through it.
func TestRestoreSymlinkFromEarlierSnapshotNotFollowed(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"always", "if-changed"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			elsewhere := filepath.Join(e.dir, "elsewhere")
			srcB := filepath.Join(e.dir, "srcB")
			big := makeEscapeSource(t, srcB)
			makeElsewhere(t, elsewhere, big)

			srcA := filepath.Join(e.dir, "srcA")
			mustMkdirAll(t, srcA)
			if err := os.Symlink(elsewhere, filepath.Join(srcA, "dir")); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(srcA, "h0"), []byte("old h0\n"), 0o644)
			e.initRepo()
			snapA, _ := e.backup(exitOK, srcA)
			snapB, _ := e.backup(exitOK, srcB)
			before := outsideState(t, elsewhere)

			dst := filepath.Join(e.dir, "restore")
			e.ok("restore", snapA.SnapshotID+":"+srcA, "--target", dst)
			if tgt, err := os.Readlink(filepath.Join(dst, "dir")); err != nil || tgt != elsewhere {
				t.Fatalf("first restore: dir is %q, %v; want the snapshot's symlink to %s", tgt, err, elsewhere)
			}
			r := e.run("restore", snapB.SnapshotID+":"+srcB, "--target", dst, "--overwrite", policy)
			if after := outsideState(t, elsewhere); after != before {
				t.Errorf("restore --overwrite %s changed a directory outside its target through the symlink an earlier restore created:\nbefore:\n%s\nafter:\n%s\n%v",
					policy, before, after, r)
			}
			wantCode(t, r, exitOK)
			checkEscapeRestored(t, dst, big)
		})
	}
}

// TestRestoreReplacesWrongTypedEntries: where the snapshot has a directory
// the target has a regular file, and the converse; --overwrite always and
// if-changed replace them, --overwrite never keeps them and says so.
func TestRestoreReplacesWrongTypedEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	mustMkdirAll(t, filepath.Join(src, "d"))
	mustWrite(t, filepath.Join(src, "d", "f"), []byte("in d\n"), 0o644)
	mustWrite(t, filepath.Join(src, "g"), []byte("file g\n"), 0o644)
	if err := os.Symlink("g", filepath.Join(src, "l")); err != nil {
		t.Fatal(err)
	}
	e.initRepo()
	e.backup(exitOK, src)

	// prepare fills dst with entries of the wrong type: d a regular file,
	// g a directory (with content), l a directory.
	prepare := func(dst string) {
		mustMkdirAll(t, dst)
		mustWrite(t, filepath.Join(dst, "d"), []byte("a file where the snapshot has a directory\n"), 0o644)
		mustWrite(t, filepath.Join(dst, "g", "inner"), []byte("a directory where the snapshot has a file\n"), 0o644)
		mustMkdirAll(t, filepath.Join(dst, "l"))
	}
	for _, policy := range []string{"always", "if-changed"} {
		t.Run(policy, func(t *testing.T) {
			dst := filepath.Join(e.dir, "restore-"+policy)
			prepare(dst)
			r := e.run("restore", "latest:"+src, "--target", dst, "--overwrite", policy)
			wantCode(t, r, exitOK)
			if got, err := os.ReadFile(filepath.Join(dst, "d", "f")); err != nil || string(got) != "in d\n" {
				t.Errorf("d/f after restore --overwrite %s: %q, %v; want the file d replaced by the snapshot's directory", policy, got, err)
			}
			if got, err := os.ReadFile(filepath.Join(dst, "g")); err != nil || string(got) != "file g\n" {
				t.Errorf("g after restore --overwrite %s: %q, %v; want the directory g replaced by the snapshot's file", policy, got, err)
			}
			if tgt, err := os.Readlink(filepath.Join(dst, "l")); err != nil || tgt != "g" {
				t.Errorf("l after restore --overwrite %s: %q, %v; want the directory l replaced by the snapshot's symlink", policy, tgt, err)
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		dst := filepath.Join(e.dir, "restore-never")
		prepare(dst)
		before := fileListing(t, dst)
		r := e.run("restore", "latest:"+src, "--target", dst, "--overwrite", "never")
		wantCode(t, r, exitFailure)
		if !strings.Contains(r.output(), "not a directory") || !strings.Contains(r.output(), "--overwrite") {
			t.Errorf("restore --overwrite never does not say that d is in the way and how to replace it:\n%v", r)
		}
		if after := fileListing(t, dst); after != before {
			t.Errorf("restore --overwrite never changed existing entries:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// longComponent is a 240-byte file name (NAME_MAX is 255).
func longComponent(i int) string {
	return fmt.Sprintf("c%03d-", i) + strings.Repeat("x", 235)
}

// openLong opens an absolute path of any length by resolving it one
// component at a time (open(2) refuses paths of PATH_MAX bytes or more).
func openLong(p string, flags int) (int, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	comps := strings.Split(strings.Trim(p, "/"), "/")
	for i, c := range comps {
		fl := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(comps)-1 {
			fl = flags | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		nfd, err := unix.Openat(fd, c, fl, 0o644)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("open %s (component %d): %w", c[:min(len(c), 12)], i, err)
		}
		fd = nfd
	}
	return fd, nil
}

func readLong(p string) ([]byte, error) {
	fd, err := openLong(p, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "long")
	defer f.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(f)
	return buf.Bytes(), err
}

// mkdirLong creates the directories of p (any length) like mkdir -p.
func mkdirLong(t *testing.T, p string) {
	t.Helper()
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			t.Fatalf("mkdir %s...: %v", c[:min(len(c), 12)], err)
		}
		nfd, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("open %s...: %v", c[:min(len(c), 12)], err)
		}
		fd = nfd
	}
	unix.Close(fd)
}

func writeLong(t *testing.T, p string, data []byte) {
	t.Helper()
	mkdirLong(t, filepath.Dir(p))
	fd, err := openLong(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "long")
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

// shortPath is p with long components abbreviated, for messages.
func shortPath(p string) string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if len(c) > 12 {
			c = c[:8] + "…"
		}
		out = append(out, c)
	}
	return strings.Join(out, "/")
}

// TestRestoreLongPaths: restore into a target deep enough that the
// restored paths exceed PATH_MAX (4096 bytes): every kind of node is
// created, written and given its metadata relative to its directory.
func TestRestoreLongPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	var deep []string
	for i := range 5 { // ~1.2 KB below src
		deep = append(deep, longComponent(i))
	}
	leafDir := filepath.Join(append([]string{src}, deep...)...)
	big := randomBytes(5, 3*mib)
	mustMkdirAll(t, leafDir)
	mustWrite(t, filepath.Join(leafDir, "small"), []byte("small file\n"), 0o640)
	mustWrite(t, filepath.Join(leafDir, "big"), big, 0o600)
	if err := os.Symlink("small", filepath.Join(leafDir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(leafDir, "small"), filepath.Join(leafDir, "hard")); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	setAllMtimes(t, src, mt)
	e.initRepo()
	e.backup(exitOK, src)

	// The target is below PATH_MAX itself (~3.4 KB); what is restored in it is not.
	dst := filepath.Join(e.dir, "restore")
	for i := range 14 {
		dst = filepath.Join(dst, longComponent(100+i))
	}
	mustMkdirAll(t, dst)
	gotLeaf := filepath.Join(append([]string{dst}, deep...)...)
	if len(gotLeaf) < 4096 {
		t.Fatalf("test setup: restored paths are %d bytes, want more than PATH_MAX", len(gotLeaf))
	}
	r := e.run("restore", "latest:"+src, "--target", dst)
	if !wantCode(t, r, exitOK) {
		t.Logf("(%d-byte restored paths)", len(gotLeaf))
	}
	for name, want := range map[string][]byte{"small": []byte("small file\n"), "big": big, "hard": []byte("small file\n")} {
		got, err := readLong(filepath.Join(gotLeaf, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/%s (%d-byte path): %d bytes, %v; want %d bytes", shortPath(gotLeaf), name, len(gotLeaf)+len(name)+1, len(got), err, len(want))
		}
	}
	fd, err := openLong(gotLeaf, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		t.Fatalf("open restored leaf directory: %v", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 64)
	if n, err := unix.Readlinkat(fd, "link", buf); err != nil || string(buf[:n]) != "small" {
		t.Errorf("restored long-path symlink: %q, %v", buf[:max(n, 0)], err)
	}
	var st, st2 unix.Stat_t
	if err := unix.Fstatat(fd, "big", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	} else if st.Mode&0o7777 != 0o600 {
		t.Errorf("restored long-path file mode %o, want 600", st.Mode&0o7777)
	}
	if err := unix.Fstatat(fd, "small", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstatat(fd, "hard", &st2, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	if st.Ino != st2.Ino {
		t.Errorf("restored long-path hard links are separate files (inodes %d, %d)", st.Ino, st2.Ino)
	}
	if st.Mode&0o7777 != 0o640 {
		t.Errorf("restored long-path file mode %o, want 640", st.Mode&0o7777)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	} else if got := time.Unix(st.Mtim.Unix()); !got.Equal(time.Unix(0, lstatNode(t, leafDir).MtimeNs)) {
		t.Errorf("restored long-path directory mtime %v, want %v", got, time.Unix(0, lstatNode(t, leafDir).MtimeNs))
	}
}

// TestBackupRestoreLongSourcePath: a source path over PATH_MAX is backed up
// and restored (into a short target, then the restored path is long too).
func TestBackupRestoreLongSourcePath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	p := src
	for i := range 19 {
		p = filepath.Join(p, longComponent(i))
	}
	p = filepath.Join(p, "deep.txt")
	if len(p) <= 4096 {
		t.Fatalf("test setup: source path is %d bytes, want more than PATH_MAX", len(p))
	}
	writeLong(t, p, []byte("deep content\n"))
	e.initRepo()
	r := e.run("backup", src)
	if r.code != exitOK {
		t.Fatalf("backup of a %d-byte source path:\n%v", len(p), r)
	}
	dst := filepath.Join(e.dir, "restore")
	rr := e.run("restore", "latest:"+src, "--target", dst)
	wantCode(t, rr, exitOK)
	rel := strings.TrimPrefix(p, src)
	if got, err := readLong(dst + rel); err != nil || string(got) != "deep content\n" {
		t.Errorf("restored %d-byte path: %q, %v", len(dst+rel), got, err)
	}
}
