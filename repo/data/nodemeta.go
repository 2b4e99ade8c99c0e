package data

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Extended metadata of a node: extended attributes (POSIX ACLs are the
// kernel's system.posix_acl_access / system.posix_acl_default attributes,
// stored as their raw bytes) and inode flags. Reading and applying them is
// OS-specific (nodemeta_linux.go; a no-op elsewhere); the bounds and the
// validation are part of the format (docs/FORMAT.md §9.2).

const (
	// MaxXAttrName is the longest attribute name (Linux XATTR_NAME_MAX).
	MaxXAttrName = 255
	// MaxXAttrValue is the largest attribute value (Linux XATTR_SIZE_MAX).
	MaxXAttrValue = 64 << 10
	// MaxNodeXAttrBytes bounds the names plus values of one node's
	// attributes: a backup stores attributes in name order until the next
	// would pass it, and warns about the rest.
	MaxNodeXAttrBytes = 128 << 10
)

// Inode flags (Linux FS_*_FL values, the on-disk meaning of Node.Flags).
const (
	FlagSync        = 0x00000008 // S: synchronous updates
	FlagImmutable   = 0x00000010 // i
	FlagAppend      = 0x00000020 // a: append only
	FlagNoDump      = 0x00000040 // d
	FlagNoAtime     = 0x00000080 // A
	FlagDirSync     = 0x00010000 // D
	FlagTopDir      = 0x00020000 // T
	FlagNoCOW       = 0x00800000 // C
	FlagProjInherit = 0x20000000 // P
)

// StoredFlags are the flags a backup records (and restore sets): the ones
// chattr sets on any file system that has them. Others (extents, inline
// data, encryption, verity, casefold...) describe how the file system
// stores the file and are not the user's to restore.
const StoredFlags = FlagSync | FlagImmutable | FlagAppend | FlagNoDump | FlagNoAtime |
	FlagDirSync | FlagTopDir | FlagNoCOW | FlagProjInherit

// validXAttrs checks a node's attributes as DecodeTree does: names
// non-empty, at most MaxXAttrName bytes, valid UTF-8 without NUL, strictly
// increasing; values at most MaxXAttrValue; names plus values at most
// MaxNodeXAttrBytes.
func validXAttrs(xs []XAttr) error {
	total := 0
	for i, x := range xs {
		if x.Name == "" || len(x.Name) > MaxXAttrName || !utf8.ValidString(x.Name) || strings.IndexByte(x.Name, 0) >= 0 {
			return fmt.Errorf("invalid extended attribute name %q: %w", x.Name, ErrCorrupt)
		}
		if i > 0 && x.Name <= xs[i-1].Name {
			return fmt.Errorf("extended attributes not sorted/unique at %q: %w", x.Name, ErrCorrupt)
		}
		if len(x.Value) > MaxXAttrValue {
			return fmt.Errorf("extended attribute %q of %d bytes: %w", x.Name, len(x.Value), ErrCorrupt)
		}
		total += len(x.Name) + len(x.Value)
	}
	if total > MaxNodeXAttrBytes {
		return fmt.Errorf("extended attributes of %d bytes: %w", total, ErrCorrupt)
	}
	return nil
}

// SameExt reports whether two nodes' extended metadata would encode
// identically.
func SameExt(a, b *Node) bool {
	if a.Flags != b.Flags || len(a.XAttrs) != len(b.XAttrs) {
		return false
	}
	for i := range a.XAttrs {
		x, y := &a.XAttrs[i], &b.XAttrs[i]
		if x.Name != y.Name || !bytes.Equal(x.Value, y.Value) || (x.Value == nil) != (y.Value == nil) {
			return false
		}
	}
	return true
}

// XAttrKind names the class of an attribute for warnings and counts:
// "acl", "security.capability", "security", "trusted", "user" or "system".
func XAttrKind(name string) string {
	switch {
	case name == "system.posix_acl_access" || name == "system.posix_acl_default":
		return "acl"
	case name == "security.capability":
		return name
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}

// MetaKindFlags is the count key of inode flags that could not be restored.
const MetaKindFlags = "flags"
