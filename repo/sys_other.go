//go:build !linux && !darwin && !freebsd

package repo

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
	rawFile   = portableFile
	dirHandle = portableDir
	// pathError has the fields, in order, and the message of rawfile.go's.
	pathError = fs.PathError
)

// openSource opens p for reading, refusing anything but the regular file an
// lstat of p finds (no symlink is followed). The device and inode the
// walk saw, which Unix systems check after opening, are not known here: the
// same-file check against the lstat takes their place.
func openSource(p string, _ ...uint64) (*rawFile, error) { return openPortable(p) }

func openDir(p string) (*dirHandle, error) { return openPortableDir(p) }

// sysStatOf: no Unix stat here (Windows' Sys() is a
// *syscall.Win32FileAttributeData, without owner, inode or ctime).
func sysStatOf(fi os.FileInfo) (sysStat, bool) { return sysStat{}, false }
