//go:build linux

package main_test

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBackupLongPathEntries: below a source path over PATH_MAX, backup
// reads what needs more than the open of a file: a symlink's target, a
// file's extended attributes (on the first backup, through the open file;
// on an incremental one, where the unchanged file is not read), and
// CACHEDIR.TAG for --exclude-caches; restore puts them back.
func TestBackupLongPathEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	deep := src
	for i := range 18 {
		deep = filepath.Join(deep, longComponent(i))
	}
	if len(deep) <= 4096 {
		t.Fatalf("test setup: %d bytes, want more than PATH_MAX", len(deep))
	}
	file := filepath.Join(deep, "photo.jpg")
	writeLong(t, file, []byte("jpeg bytes\n"))
	fd, err := openLong(file, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fsetxattr(fd, "user.rating", []byte("5"), 0); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOTSUP) {
			t.Skipf("no user xattrs on %s", e.dir)
		}
		t.Fatal(err)
	}
	unix.Close(fd)
	dfd, err := openLong(deep, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Symlinkat("photo.jpg", dfd, "link")
	unix.Close(dfd)
	if err != nil {
		t.Fatal(err)
	}
	writeLong(t, filepath.Join(deep, "cache", "CACHEDIR.TAG"), []byte("Signature: 8a477f597d28d172789f06886806bc55\n"))
	writeLong(t, filepath.Join(deep, "cache", "blob"), []byte("cached\n"))

	e.initRepo()
	for round := 1; round <= 2; round++ {
		s, r := e.backup(exitOK, "--exclude-caches", src)
		if s.Errors != 0 || (round == 2 && s.FilesUnmodified == 0) {
			t.Fatalf("backup %d: %+v\n%v", round, s, r)
		}
		dst := filepath.Join(e.dir, "restore", string(rune('0'+round)))
		e.ok("restore", "latest:"+src, "--target", dst)
		rdeep := dst + deep[len(src):]
		if b, err := readLong(filepath.Join(rdeep, "photo.jpg")); err != nil || string(b) != "jpeg bytes\n" {
			t.Errorf("backup %d: restored file: %q %v", round, b, err)
		}
		fd, err := openLong(filepath.Join(rdeep, "photo.jpg"), unix.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, err := unix.Fgetxattr(fd, "user.rating", buf)
		unix.Close(fd)
		if err != nil || string(buf[:n]) != "5" {
			t.Errorf("backup %d: restored user.rating = %q, %v", round, buf[:max(n, 0)], err)
		}
		dfd, err := openLong(rdeep, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			t.Fatal(err)
		}
		n, err = unix.Readlinkat(dfd, "link", buf)
		if err != nil || string(buf[:n]) != "photo.jpg" {
			t.Errorf("backup %d: restored symlink: %q, %v", round, buf[:max(n, 0)], err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, "cache", &st, unix.AT_SYMLINK_NOFOLLOW); !errors.Is(err, unix.ENOENT) {
			t.Errorf("backup %d: the cache directory was not excluded (%v)", round, err)
		}
		unix.Close(dfd)
	}
}
