//go:build !linux && !darwin && !freebsd

package fs

import (
	"io/fs"
	"os"
)

// Systems other than Linux, macOS and FreeBSD (Windows above all) read
// sources through the os package (srcfile_portable.go) and record no
// owner, inode, link count or ctime. What that changes is listed in
// docs/PLATFORMS.md; the portable code is tested on Linux too
// (srcfile_portable_test.go).

type (
	RawFile   = portableFile
	DirHandle = portableDir
	// pathError has the fields, in order, and the message of rawfile.go's.
	pathError = fs.PathError
)

// OpenSource opens p for reading, refusing anything but the regular file an
// lstat of p finds (no symlink is followed). The device and inode the
// walk saw, which Unix systems check after opening, are not known here: the
// same-file check against the lstat takes their place.
func OpenSource(p string, _ ...uint64) (*RawFile, error) { return openPortable(p) }

// OpenRegular opens p for reading if an lstat finds a regular file
// (OpenSource here).
func OpenRegular(p string) (*RawFile, error) { return openPortable(p) }

func OpenDir(p string) (*DirHandle, error) { return openPortableDir(p) }

// SysStatOf: no Unix stat here (Windows' Sys() is a
// *syscall.Win32FileAttributeData, without owner, inode or ctime).
func SysStatOf(fi os.FileInfo) (SysStat, bool) { return SysStat{}, false }
