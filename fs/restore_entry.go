package fs

import "bytes"

// EntryKind is the type of an existing entry in a restore target, as the
// per-OS resolvers (restore_unix.go, restore_other.go) report it.
type EntryKind int

const (
	KindOther EntryKind = iota
	KindDir
	KindFile
	KindSymlink
)

func (k EntryKind) String() string {
	switch k {
	case KindDir:
		return "a directory"
	case KindFile:
		return "a regular file"
	case KindSymlink:
		return "a symbolic link"
	}
	return "a special file"
}

type EntryInfo struct {
	Kind EntryKind
	Size int64
}

// IsZero reports whether b is all zero bytes.
func IsZero(b []byte) bool {
	var zero [4096]byte
	for len(b) > 0 {
		n := min(len(b), len(zero))
		if !bytes.Equal(b[:n], zero[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
