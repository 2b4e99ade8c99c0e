package fs

import (
	"errors"
	"io/fs"
	"os"
	"sort"
	"time"
)

// SysStat is what the archiver records from a Unix lstat beyond
// os.FileInfo (SysStatOf, per system: sys_posix.go, sys_other.go).
type SysStat struct {
	UID, GID              uint32
	Ino, Dev, Nlink, Rdev uint64
	Ctime                 time.Time
}

// portableFile reads a source file through package os. It is the source
// reader where rawfile.go's raw descriptors are not built (sys_other.go:
// Windows and the Unixes this project does not build for): no O_NOATIME,
// no readahead advice. It builds everywhere so that it is tested on Linux.
type portableFile struct {
	f  *os.File
	FD int // -1: extended metadata is read by path (nodemeta_other.go reads none)
}

// errNotSameFile: what was opened is not the file an lstat of the path
// found just before (a symlink, or the file was replaced in between).
var errNotSameFile = errors.New("not a regular file, or replaced while opened")

// openPortable opens p for reading. It does not follow a final symlink nor
// open anything but a regular file: p is lstat'ed first (so a FIFO is never
// opened, which could block), and the opened file must be the one the
// lstat found.
func openPortable(p string) (*portableFile, error) {
	fi0, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi0.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: errNotSameFile}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	fi1, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi1.Mode().IsRegular() || !os.SameFile(fi0, fi1) {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: p, Err: errNotSameFile}
	}
	return &portableFile{f: f, FD: -1}, nil
}

func (f *portableFile) Read(b []byte) (int, error) { return f.f.Read(b) }

// ExpectSize: the portable reader always reads up to the end of file.
func (f *portableFile) ExpectSize(int64) {}

// stat returns size, mtime and whether the file is regular.
func (f *portableFile) Stat() (size int64, mtime time.Time, regular bool, err error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return fi.Size(), fi.ModTime(), fi.Mode().IsRegular(), nil
}

func (f *portableFile) Close() error { return f.f.Close() }

// portableDir is an open directory read through package os; entries are
// lstat'ed by their full path.
type portableDir struct {
	f    *os.File
	path string
	FD   int // -1, as portableFile's
}

// openPortableDir opens directory p without following a final symlink.
func openPortableDir(p string) (*portableDir, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: errors.New("not a directory")}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	return &portableDir{f: f, path: p, FD: -1}, nil
}

func (d *portableDir) Close() { d.f.Close() }

// names returns the sorted entry names; on an error it returns the names
// read so far.
func (d *portableDir) Names() ([]string, error) {
	names, err := d.f.Readdirnames(-1)
	sort.Strings(names)
	if err != nil {
		return names, &fs.PathError{Op: "readdir", Path: d.path, Err: err}
	}
	return names, nil
}

// lstat returns the os.FileInfo of entry name (full path path) without
// following a symlink.
func (d *portableDir) Lstat(name, path string) (os.FileInfo, error) {
	return os.Lstat(path)
}
