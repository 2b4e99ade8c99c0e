package repo

// entryKind is the type of an existing entry in a restore target, as the
// per-OS resolvers (restore_unix.go, restore_other.go) report it.
type entryKind int

const (
	kindOther entryKind = iota
	kindDir
	kindFile
	kindSymlink
)

func (k entryKind) String() string {
	switch k {
	case kindDir:
		return "a directory"
	case kindFile:
		return "a regular file"
	case kindSymlink:
		return "a symbolic link"
	}
	return "a special file"
}

type entryInfo struct {
	kind entryKind
	size int64
}
