package data

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// A direct (non-reflective) codec for tree blobs. A backup of many small
// directories encodes and decodes one tree per directory, and encoding/json's
// reflection was a large part of that cost. The codec is a fast path only:
//
//   - appendTree writes exactly the bytes json.Marshal writes for the trees
//     writers produce (UTC times within RFC 3339's year range, no nil
//     nodes); for anything else it reports false and EncodeTree falls back
//     to encoding/json, so tree IDs never depend on which path ran.
//   - parseTree accepts only the canonical encoding (compact, fields in
//     table order, no null, no escapes it would have to interpret
//     differently from encoding/json); anything else makes it report false
//     and DecodeTree falls back to encoding/json. Where it accepts, its
//     result equals encoding/json's (FuzzTreeCodec checks both directions).

// appendTree appends the canonical JSON of t (without the final newline).
func appendTree(b []byte, t *Tree) ([]byte, bool) {
	if t.Parts != nil {
		return b, false // a split directory's index: encoding/json
	}
	b = append(b, `{"nodes":[`...)
	for i, n := range t.Nodes {
		if n == nil {
			return b, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = AppendNode(b, n); !ok {
			return b, false
		}
	}
	return append(b, "]}"...), true
}

// AppendNode appends the canonical JSON of one node (the bytes EncodeTree
// writes for it inside a tree); false: the node needs encoding/json
// (EncodeTree falls back to it).
func AppendNode(b []byte, n *Node) ([]byte, bool) {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, n.Name)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, n.Type)
	b = append(b, `,"mode":`...)
	b = strconv.AppendUint(b, uint64(n.Mode), 10)
	b = append(b, `,"uid":`...)
	b = strconv.AppendUint(b, uint64(n.UID), 10)
	b = append(b, `,"gid":`...)
	b = strconv.AppendUint(b, uint64(n.GID), 10)
	if n.User != "" {
		b = append(b, `,"user":`...)
		b = appendJSONString(b, n.User)
	}
	if n.Group != "" {
		b = append(b, `,"group":`...)
		b = appendJSONString(b, n.Group)
	}
	var ok bool
	b = append(b, `,"mtime":`...)
	if b, ok = appendTime(b, n.ModTime); !ok {
		return b, false
	}
	b = append(b, `,"ctime":`...)
	if b, ok = appendTime(b, n.ChangeTime); !ok {
		return b, false
	}
	b = appendUintField(b, `,"size":`, n.Size)
	b = appendUintField(b, `,"inode":`, n.Inode)
	b = appendUintField(b, `,"device":`, n.Device)
	b = appendUintField(b, `,"links":`, n.Links)
	b = appendUintField(b, `,"rdev":`, n.Rdev)
	if n.LinkTarget != "" {
		b = append(b, `,"linktarget":`...)
		b = appendJSONString(b, n.LinkTarget)
	}
	if len(n.Content) > 0 {
		b = append(b, `,"content":[`...)
		for i := range n.Content {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendID(b, &n.Content[i])
		}
		b = append(b, ']')
	}
	if n.Subtree != nil {
		b = append(b, `,"subtree":`...)
		b = appendID(b, n.Subtree)
	}
	if len(n.NameRaw) > 0 {
		b = append(b, `,"name_raw":"`...)
		b = base64.StdEncoding.AppendEncode(b, n.NameRaw)
		b = append(b, '"')
	}
	if len(n.LinkTargetRaw) > 0 {
		b = append(b, `,"linktarget_raw":"`...)
		b = base64.StdEncoding.AppendEncode(b, n.LinkTargetRaw)
		b = append(b, '"')
	}
	if len(n.XAttrs) > 0 {
		b = append(b, `,"xattrs":[`...)
		for i := range n.XAttrs {
			x := &n.XAttrs[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, x.Name)
			if x.Value == nil {
				b = append(b, `,"value":null}`...)
				continue
			}
			b = append(b, `,"value":"`...)
			b = base64.StdEncoding.AppendEncode(b, x.Value)
			b = append(b, `"}`...)
		}
		b = append(b, ']')
	}
	b = appendUintField(b, `,"flags":`, uint64(n.Flags))
	return append(b, '}'), true
}

func appendUintField(b []byte, key string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(append(b, key...), v, 10)
}

func appendID(b []byte, id *ID) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, id[:])
	return append(b, '"')
}

// appendTime writes what time.Time.MarshalJSON writes, for UTC times with a
// four-digit year (what writers produce); other times are left to
// encoding/json.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	if t.Location() != time.UTC {
		return b, false
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping:
// <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 escaped, control
// characters as \b \f \n \r \t or \u00XX, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// treeParser reads the canonical encoding; every method returns false when
// the input leaves the fast path (the caller then uses encoding/json).
type treeParser struct {
	b    []byte
	i    int
	slab []Node
}

func (p *treeParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

func (p *treeParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// parseTree decodes the canonical encoding of a tree. ok is false when b is
// not in that form (it may still be valid JSON for encoding/json).
func parseTree(b []byte) (*Tree, bool) {
	p := treeParser{b: b}
	if !p.lit(`{"nodes":[`) {
		return nil, false
	}
	t := &Tree{Nodes: []*Node{}}
	if p.lit("]}") {
		return t, true
	}
	for {
		n, ok := p.node()
		if !ok {
			return nil, false
		}
		t.Nodes = append(t.Nodes, n)
		if p.lit(",") {
			continue
		}
		if p.lit("]}") {
			return t, true
		}
		return nil, false
	}
}

// Field order of the canonical encoding (the struct's order).
var nodeFields = [...]string{"name", "type", "mode", "uid", "gid", "user", "group", "mtime", "ctime",
	"size", "inode", "device", "links", "rdev", "linktarget", "content", "subtree", "name_raw", "linktarget_raw",
	"xattrs", "flags"}

func (p *treeParser) node() (*Node, bool) {
	if len(p.slab) == 0 {
		// Nodes are allocated in slabs sized by what is left to parse
		// (a canonical node is 250-350 bytes).
		p.slab = make([]Node, min(64, (len(p.b)-p.i)/250+1))
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	if !p.lit("{") {
		return nil, false
	}
	next := 0 // index into nodeFields of the earliest field still allowed
	for first := true; ; first = false {
		if p.lit("}") {
			return n, true
		}
		if !first && !p.lit(",") {
			return nil, false
		}
		key, ok := p.rawString()
		if !ok || !p.lit(":") {
			return nil, false
		}
		f := next
		for f < len(nodeFields) && nodeFields[f] != string(key) {
			f++
		}
		if f == len(nodeFields) {
			return nil, false // unknown, repeated or out of order
		}
		next = f + 1
		switch f {
		case 0:
			ok = p.str(&n.Name)
		case 1:
			ok = p.nodeType(&n.Type)
		case 2:
			ok = p.u32(&n.Mode)
		case 3:
			ok = p.u32(&n.UID)
		case 4:
			ok = p.u32(&n.GID)
		case 5:
			ok = p.str(&n.User)
		case 6:
			ok = p.str(&n.Group)
		case 7:
			ok = p.time(&n.ModTime)
		case 8:
			ok = p.time(&n.ChangeTime)
		case 9:
			ok = p.u64(&n.Size)
		case 10:
			ok = p.u64(&n.Inode)
		case 11:
			ok = p.u64(&n.Device)
		case 12:
			ok = p.u64(&n.Links)
		case 13:
			ok = p.u64(&n.Rdev)
		case 14:
			ok = p.str(&n.LinkTarget)
		case 15:
			ok = p.ids(&n.Content)
		case 16:
			var id ID
			if ok = p.id(&id); ok {
				n.Subtree = &id
			}
		case 17:
			ok = p.bytes(&n.NameRaw)
		case 18:
			ok = p.bytes(&n.LinkTargetRaw)
		case 19:
			ok = p.xattrs(&n.XAttrs)
		case 20:
			ok = p.u32(&n.Flags)
		}
		if !ok {
			return nil, false
		}
	}
}

// rawString returns the content of a string without escapes.
func (p *treeParser) rawString() ([]byte, bool) {
	if !p.lit(`"`) {
		return nil, false
	}
	for j := p.i; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[p.i:j]
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// str reads a JSON string. Escapes other than surrogates are decoded as
// encoding/json decodes them; invalid UTF-8 (which encoding/json replaces
// with U+FFFD) leaves the fast path.
func (p *treeParser) str(dst *string) bool {
	if !p.lit(`"`) {
		return false
	}
	var buf []byte
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			if buf == nil {
				if !utf8.Valid(p.b[start:p.i]) {
					return false
				}
				*dst = string(p.b[start:p.i])
			} else {
				buf = append(buf, p.b[start:p.i]...)
				if !utf8.Valid(buf) {
					return false
				}
				*dst = string(buf)
			}
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			buf = append(buf, p.b[start:p.i]...)
			if p.i+1 >= len(p.b) {
				return false
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				if p.i+4 > len(p.b) {
					return false
				}
				v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
				if err != nil || (v >= 0xd800 && v < 0xe000) {
					return false // surrogates: left to encoding/json
				}
				buf = utf8.AppendRune(buf, rune(v))
				p.i += 4
			default:
				return false
			}
			start = p.i
		default:
			p.i++
		}
	}
	return false
}

// nodeType reads the type string, sharing the constants' memory.
func (p *treeParser) nodeType(dst *string) bool {
	at := p.i
	if s, ok := p.rawString(); ok {
		for _, t := range [...]string{NodeFile, NodeDir, NodeSymlink, NodeDev, NodeCharDev, NodeFifo, NodeSocket} {
			if string(s) == t {
				*dst = t
				return true
			}
		}
	}
	p.i = at
	return p.str(dst)
}

// u64 reads a JSON integer without sign, fraction or exponent.
func (p *treeParser) u64(dst *uint64) bool {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == p.i || (p.b[p.i] == '0' && j > p.i+1) {
		return false
	}
	if j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
		return false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		return false
	}
	*dst, p.i = v, j
	return true
}

func (p *treeParser) u32(dst *uint32) bool {
	var v uint64
	if !p.u64(&v) || v > 1<<32-1 {
		return false
	}
	*dst = uint32(v)
	return true
}

// time reads what time.Time.UnmarshalJSON reads: the raw string content,
// strict RFC 3339.
func (p *treeParser) time(dst *time.Time) bool {
	s, ok := p.rawString()
	return ok && dst.UnmarshalText(s) == nil
}

func (p *treeParser) id(dst *ID) bool {
	s, ok := p.rawString()
	return ok && dst.UnmarshalText(s) == nil
}

func (p *treeParser) ids(dst *[]ID) bool {
	if !p.lit("[") {
		return false
	}
	out := []ID{}
	if !p.lit("]") {
		for {
			var id ID
			if !p.id(&id) {
				return false
			}
			out = append(out, id)
			if p.lit("]") {
				break
			}
			if !p.lit(",") {
				return false
			}
		}
	}
	*dst = out
	return true
}

// xattrs reads a non-empty attribute array in canonical form: objects
// with exactly "name" then "value" (a string; null leaves the fast path).
// An empty array leaves the fast path too (encoding/json makes it a
// non-nil empty slice, which the encoder would omit).
func (p *treeParser) xattrs(dst *[]XAttr) bool {
	if !p.lit("[") || p.peek() == ']' {
		return false
	}
	var out []XAttr
	for {
		var x XAttr
		if !p.lit(`{"name":`) || !p.str(&x.Name) || !p.lit(`,"value":`) || !p.bytes(&x.Value) || !p.lit("}") {
			return false
		}
		out = append(out, x)
		if p.lit("]") {
			break
		}
		if !p.lit(",") {
			return false
		}
	}
	*dst = out
	return true
}

// bytes reads base64 as encoding/json does (standard alphabet, padding).
func (p *treeParser) bytes(dst *[]byte) bool {
	s, ok := p.rawString()
	if !ok {
		return false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		return false
	}
	*dst = out[:n]
	return true
}
