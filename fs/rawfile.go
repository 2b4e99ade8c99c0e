//go:build linux || darwin || freebsd

// Other systems read sources through srcfile_portable.go (sys_other.go).

package fs

import (
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RawFile reads a source file through its file descriptor directly. For
// regular files os.File costs extra syscalls (netpoller registration,
// fcntl, an fstat) that dominate backups of many small files.
type RawFile struct {
	FD int
	// off is the read offset; ahead is how far the kernel was asked to
	// read ahead (readAheadWindow beyond off, in window steps).
	off, ahead int64
	// total is what was read so far; expect the size the walk's lstat
	// saw (-1: not known, ExpectSize); short is set when the last read
	// returned less than asked.
	total, expect int64
	short         bool
}

// ExpectSize tells f the file's size as the walk's lstat saw it: once
// that many bytes came in and the last read stopped short of the buffer,
// Read reports io.EOF without asking the kernel again. Most files of a
// photo library's thumbnails are read whole by one read, and the read
// that only returns 0 was one syscall in ten per file. A file that grew
// meanwhile is caught by the caller's fstat after reading (its size is
// then not the size read), as it was when the extra read came before it.
func (f *RawFile) ExpectSize(n int64) { f.expect = n }

// readAheadWindow: a file read sequentially has the next window requested
// from the disk (posix_fadvise WILLNEED) while the current one is chunked,
// hashed and sealed, so the pipeline does not stall on the disk's latency.
// The kernel's own readahead (128 KiB by default) is too short for that.
const readAheadWindow = 8 << 20

// OpenSource opens p for reading without following a final symlink and,
// where permitted, without updating its access time. The file must still
// be the regular file the walk's lstat saw (device dev, inode ino): the
// open does not block (a FIFO swapped in meanwhile would wait for a writer
// forever) and the opened file is checked; otherwise the error wraps
// errChangedType.
func OpenSource(p string, dev, ino uint64) (*RawFile, error) {
	for {
		fd, err := openLong(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|openNoatime|syscall.O_CLOEXEC|openNonblock, 0)
		if errors.Is(err, syscall.EPERM) {
			fd, err = openLong(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|openNonblock, 0)
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &pathError{"open", p, err}
		}
		if err := checkOpened(fd, dev, ino); err != nil {
			syscall.Close(fd)
			return nil, &pathError{"open", p, err}
		}
		return &RawFile{FD: fd, expect: -1}, nil
	}
}

// OpenRegular opens p for reading if it is a regular file: no final
// symlink is followed and the open does not block (a FIFO of that name
// would wait for a writer forever); anything else is an error wrapping
// errChangedType. For small files looked at by name, such as a directory's
// CACHEDIR.TAG, where no lstat of the walk precedes the open.
func OpenRegular(p string) (*RawFile, error) {
	for {
		fd, err := openLong(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|openNonblock, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &pathError{"open", p, err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			syscall.Close(fd)
			if err == nil {
				err = errChangedType
			}
			return nil, &pathError{"open", p, err}
		}
		return &RawFile{FD: fd, expect: -1}, nil
	}
}

type pathError struct {
	op, path string
	err      error
}

func (e *pathError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func (f *RawFile) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if f.short && f.total == f.expect {
		return 0, io.EOF
	}
	for {
		// Only for files larger than one read (off > 0 after a full
		// read): small files are read whole by the first read.
		if f.off > 0 && f.off+int64(len(b)) > f.ahead-readAheadWindow {
			f.ahead = max(f.ahead, f.off)
			// Advice only: an error (e.g. a file system without it)
			// changes nothing but speed.
			fadviseWillNeed(f.FD, f.ahead, readAheadWindow)
			f.ahead += readAheadWindow
		}
		n, err := syscall.Read(f.FD, b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			// The open's O_NONBLOCK (openNonblock) mattered after all.
			if err := clearNonblock(f.FD); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		if f.off > 0 || n == len(b) {
			f.off += int64(n)
		}
		f.total += int64(n)
		f.short = n < len(b)
		return n, nil
	}
}

// stat returns size, mtime and whether the file is regular.
func (f *RawFile) Stat() (size int64, mtime time.Time, regular bool, err error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(f.FD, &st); err != nil {
		return 0, time.Time{}, false, err
	}
	return st.Size, statMtime(&st), st.Mode&syscall.S_IFMT == syscall.S_IFREG, nil
}

func (f *RawFile) Close() error { return syscall.Close(f.FD) }

// DirHandle is an open directory: its entries are listed and lstat'ed
// relative to its descriptor (fstatat), which spares the kernel resolving
// the whole path again for every entry.
type DirHandle struct {
	FD   int
	path string
}

func OpenDir(p string) (*DirHandle, error) {
	for {
		fd, err := openLong(p, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &pathError{"open", p, err}
		}
		return &DirHandle{FD: fd, path: p}, nil
	}
}

func (d *DirHandle) Close() { syscall.Close(d.FD) }

// direntPool holds getdents buffers. A walk opens one directory per few
// files (Immich's thumbs/<user>/<xx>/<yy>/ fan-out: 45 000 directories
// for 50 000 thumbnails), each in a goroutine of its own; a 32 KiB buffer
// on the stack (where escape analysis put it) was zeroed for each and grew
// each of these goroutines' stacks to 64 KiB (runtime.copystack).
var direntPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// names returns the sorted entry names (without "." and ".."); on an error
// it returns the names read so far.
func (d *DirHandle) Names() ([]string, error) {
	bp := direntPool.Get().(*[]byte)
	defer direntPool.Put(bp)
	buf := *bp
	var names []string
	for {
		n, err := syscall.ReadDirent(d.FD, buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			slices.Sort(names)
			return names, &pathError{"readdir", d.path, err}
		}
		if n <= 0 {
			break
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
	slices.Sort(names)
	return names, nil
}

// lstat returns the os.FileInfo of entry name without following a
// symlink; path is the entry's full path, for messages.
func (d *DirHandle) Lstat(name, path string) (os.FileInfo, error) {
	fi := &statInfo{name: name}
	for {
		// x/sys/unix has fstatat for every architecture; its Stat_t is
		// the same kernel structure as syscall's (checked below).
		err := unix.Fstatat(d.FD, name, (*unix.Stat_t)(unsafe.Pointer(&fi.st)), unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &pathError{"lstat", path, err}
		}
		return fi, nil
	}
}

// Both Stat_t types must have the same size (and they have the same fields).
var (
	_ [unsafe.Sizeof(syscall.Stat_t{}) - unsafe.Sizeof(unix.Stat_t{})]byte
	_ [unsafe.Sizeof(unix.Stat_t{}) - unsafe.Sizeof(syscall.Stat_t{})]byte
)

// statInfo is an os.FileInfo over a raw stat, with the mode bits mapped
// as package os maps them.
type statInfo struct {
	name string
	st   syscall.Stat_t
}

func (fi *statInfo) Name() string       { return fi.name }
func (fi *statInfo) Size() int64        { return fi.st.Size }
func (fi *statInfo) ModTime() time.Time { return statMtime(&fi.st) }
func (fi *statInfo) IsDir() bool        { return fi.st.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func (fi *statInfo) Sys() any           { return &fi.st }

func (fi *statInfo) Mode() os.FileMode {
	m := os.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= os.ModeDevice
	case syscall.S_IFCHR:
		m |= os.ModeDevice | os.ModeCharDevice
	case syscall.S_IFDIR:
		m |= os.ModeDir
	case syscall.S_IFIFO:
		m |= os.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= os.ModeSymlink
	case syscall.S_IFSOCK:
		m |= os.ModeSocket
	}
	if fi.st.Mode&syscall.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if fi.st.Mode&syscall.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if fi.st.Mode&syscall.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}
