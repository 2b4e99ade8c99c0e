package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Node types (frozen on-disk strings).
const (
	NodeFile    = "file"
	NodeDir     = "dir"
	NodeSymlink = "symlink"
	NodeDev     = "dev"     // block device
	NodeCharDev = "chardev" // character device
	NodeFifo    = "fifo"
	NodeSocket  = "socket"
)

// Node is one entry of a tree (directory listing). JSON field names are part
// of the format (docs/FORMAT.md "Trees").
type Node struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Mode       uint32    `json:"mode"` // Go os.FileMode permission + setuid/setgid/sticky bits
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	User       string    `json:"user,omitempty"`
	Group      string    `json:"group,omitempty"`
	ModTime    time.Time `json:"mtime"`
	ChangeTime time.Time `json:"ctime"`
	Size       uint64    `json:"size,omitempty"`
	Inode      uint64    `json:"inode,omitempty"`
	Device     uint64    `json:"device,omitempty"` // st_dev, for hardlink identity
	Links      uint64    `json:"links,omitempty"`
	Rdev       uint64    `json:"rdev,omitempty"`
	LinkTarget string    `json:"linktarget,omitempty"`
	Content    []ID      `json:"content,omitempty"` // data blob IDs in file order
	Subtree    *ID       `json:"subtree,omitempty"` // tree blob ID of a directory
	// NameRaw / LinkTargetRaw hold names that are not valid UTF-8 (JSON
	// strings cannot); Name / LinkTarget are then a lossy display form.
	NameRaw       []byte `json:"name_raw,omitempty"`
	LinkTargetRaw []byte `json:"linktarget_raw,omitempty"`
	// XAttrs are the extended attributes (POSIX ACLs included, as the
	// kernel's system.posix_acl_* attributes), sorted by name; Flags the
	// inode flags (Linux FS_*_FL bits, restorable ones only). Both are
	// optional (docs/FORMAT.md "Trees").
	XAttrs []XAttr `json:"xattrs,omitempty"`
	Flags  uint32  `json:"flags,omitempty"`
}

// XAttr is one extended attribute: its full name ("user.comment",
// "system.posix_acl_access") and raw value.
type XAttr struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// FileName returns the exact (byte-for-byte) name.
func (n *Node) FileName() string {
	if n.NameRaw != nil {
		return string(n.NameRaw)
	}
	return n.Name
}

// SetName stores name, using NameRaw when it is not valid UTF-8.
func (n *Node) SetName(name string) {
	if utf8.ValidString(name) {
		n.Name, n.NameRaw = name, nil
		return
	}
	n.Name, n.NameRaw = string([]rune(name)), []byte(name)
}

// Target returns the exact symlink target.
func (n *Node) Target() string {
	if n.LinkTargetRaw != nil {
		return string(n.LinkTargetRaw)
	}
	return n.LinkTarget
}

// SetTarget stores a symlink target.
func (n *Node) SetTarget(t string) {
	if utf8.ValidString(t) {
		n.LinkTarget, n.LinkTargetRaw = t, nil
		return
	}
	n.LinkTarget, n.LinkTargetRaw = string([]rune(t)), []byte(t)
}

// FileMode returns the node's os.FileMode including the type bits.
func (n *Node) FileMode() os.FileMode {
	m := os.FileMode(n.Mode) & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	switch n.Type {
	case NodeDir:
		m |= os.ModeDir
	case NodeSymlink:
		m |= os.ModeSymlink
	case NodeDev:
		m |= os.ModeDevice
	case NodeCharDev:
		m |= os.ModeDevice | os.ModeCharDevice
	case NodeFifo:
		m |= os.ModeNamedPipe
	case NodeSocket:
		m |= os.ModeSocket
	}
	return m
}

// Tree is a directory listing, nodes sorted by exact name. A split
// directory's tree (format version 2, docs/FORMAT.md §9.3) has no nodes
// but Parts, the part trees holding them (treesplit.go); repo.LoadTree
// returns such a directory assembled, repo.LoadTreeBlob as stored.
type Tree struct {
	Nodes []*Node    `json:"nodes"`
	Parts []TreePart `json:"parts,omitempty"`
}

// Find returns the node with exact name, or nil.
func (t *Tree) Find(name string) *Node {
	i := sort.Search(len(t.Nodes), func(i int) bool { return t.Nodes[i].FileName() >= name })
	if i < len(t.Nodes) && t.Nodes[i].FileName() == name {
		return t.Nodes[i]
	}
	return nil
}

// Sort orders nodes by exact name.
func (t *Tree) Sort() {
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].FileName() < t.Nodes[j].FileName() })
}

const maxTreeNodes = 10_000_000

// EncodeTree returns the canonical JSON of t (sorted, compact, newline).
func EncodeTree(t *Tree) ([]byte, error) {
	if t.Nodes == nil {
		t.Nodes = []*Node{}
	}
	t.Sort()
	if b, ok := appendTree(make([]byte, 0, 64+300*len(t.Nodes)), t); ok {
		return append(b, '\n'), nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeTreeJSON is the reference decoder (encoding/json), used for any
// input the canonical-form parser does not take.
func decodeTreeJSON(b []byte) (*Tree, error) {
	var t Tree
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DecodeTree parses and validates a tree blob.
func DecodeTree(b []byte) (*Tree, error) {
	t, ok := parseTree(b)
	if !ok {
		var err error
		if t, err = decodeTreeJSON(b); err != nil {
			return nil, fmt.Errorf("decode tree: %w: %w", err, ErrCorrupt)
		}
	}
	if len(t.Nodes) > maxTreeNodes {
		return nil, fmt.Errorf("tree with %d nodes: %w", len(t.Nodes), ErrCorrupt)
	}
	if t.Parts != nil {
		if err := validParts(t); err != nil {
			return nil, err
		}
	}
	prev := ""
	for i, n := range t.Nodes {
		if n == nil {
			return nil, fmt.Errorf("tree node %d is null: %w", i, ErrCorrupt)
		}
		if (n.NameRaw != nil && len(n.NameRaw) == 0) || (n.LinkTargetRaw != nil && len(n.LinkTargetRaw) == 0) {
			return nil, fmt.Errorf("tree node %d has an empty raw name or link target: %w", i, ErrCorrupt)
		}
		name := n.FileName()
		if name == "" || name == "." || name == ".." || strings.IndexByte(name, '/') >= 0 || strings.IndexByte(name, 0) >= 0 {
			return nil, fmt.Errorf("tree node %d has invalid name %q: %w", i, name, ErrCorrupt)
		}
		if err := validXAttrs(n.XAttrs); err != nil {
			return nil, fmt.Errorf("tree node %q: %w", name, err)
		}
		if i > 0 && name <= prev {
			return nil, fmt.Errorf("tree nodes not sorted/unique at %q: %w", name, ErrCorrupt)
		}
		prev = name
		switch n.Type {
		case NodeDir:
			if n.Subtree == nil {
				return nil, fmt.Errorf("directory %q has no subtree: %w", name, ErrCorrupt)
			}
		case NodeFile, NodeSymlink, NodeDev, NodeCharDev, NodeFifo, NodeSocket:
		default:
			return nil, fmt.Errorf("node %q has unknown type %q: %w", name, n.Type, ErrCorrupt)
		}
	}
	return t, nil
}
