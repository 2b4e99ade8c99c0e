package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Trees with extended attributes and flags: the direct codec writes
// encoding/json's bytes and reads them back; DecodeTree enforces the
// bounds of docs/FORMAT.md §9.2; nodes without them encode as before.
func TestTreeCodecExtendedMetadata(t *testing.T) {
	mt := time.Unix(1e9, 5).UTC()
	tr := &Tree{Nodes: []*Node{
		{Name: "a", Type: NodeFile, Mode: 0o660, ModTime: mt, Flags: FlagImmutable | FlagNoDump,
			XAttrs: []XAttr{{Name: "system.posix_acl_access", Value: []byte{2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff}},
				{Name: "user.<&>", Value: []byte{}}, {Name: "user.z", Value: []byte("x\x00y")}}},
		{Name: "b", Type: NodeDir, Mode: 0o755, ModTime: mt, Subtree: &ID{1}, Flags: FlagAppend},
		{Name: "c", Type: NodeSymlink, LinkTarget: "a", ModTime: mt, XAttrs: []XAttr{{Name: "trusted.n", Value: []byte("v")}}},
	}}
	got, err := EncodeTree(tr)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := json.Marshal(tr)
	if !bytes.Equal(got, append(ref, '\n')) {
		t.Fatalf("EncodeTree differs from encoding/json:\n%s\n%s", got, ref)
	}
	fast, ok := parseTree(got)
	if !ok {
		t.Fatalf("parseTree refuses the canonical encoding:\n%s", got)
	}
	dec, err := DecodeTree(got)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := EncodeTree(fast); !bytes.Equal(again, got) {
		t.Fatalf("round trip changed the tree:\n%s\n%s", got, again)
	}
	if !SameExt(dec.Nodes[0], tr.Nodes[0]) || SameExt(dec.Nodes[0], dec.Nodes[1]) {
		t.Fatal("SameExt")
	}
	// A node without extended metadata: no new field in its encoding.
	plain, _ := EncodeTree(&Tree{Nodes: []*Node{{Name: "p", Type: NodeFile, ModTime: mt}}})
	if bytes.Contains(plain, []byte("xattrs")) || bytes.Contains(plain, []byte("flags")) {
		t.Fatalf("plain node: %s", plain)
	}

	bad := map[string][]XAttr{
		"empty name":     {{Name: "", Value: nil}},
		"unsorted":       {{Name: "user.b"}, {Name: "user.a"}},
		"duplicate":      {{Name: "user.a"}, {Name: "user.a"}},
		"NUL in name":    {{Name: "user.\x00"}},
		"long name":      {{Name: "user." + strings.Repeat("n", 251)}},
		"large value":    {{Name: "user.a", Value: make([]byte, MaxXAttrValue+1)}},
		"large in total": {{Name: "user.a", Value: make([]byte, MaxXAttrValue)}, {Name: "user.b", Value: make([]byte, MaxXAttrValue)}},
	}
	for what, xs := range bad {
		b, err := EncodeTree(&Tree{Nodes: []*Node{{Name: "f", Type: NodeFile, ModTime: mt, XAttrs: xs}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeTree(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeTree = %v, want ErrCorrupt", what, err)
		}
	}
	// At the bounds: accepted.
	ok1 := []XAttr{{Name: "user." + strings.Repeat("n", 250), Value: make([]byte, MaxXAttrValue)},
		{Name: "user.z", Value: make([]byte, MaxNodeXAttrBytes-MaxXAttrValue-255-6)}}
	b, _ := EncodeTree(&Tree{Nodes: []*Node{{Name: "f", Type: NodeFile, ModTime: mt, XAttrs: ok1}}})
	if _, err := DecodeTree(b); err != nil {
		t.Errorf("attributes at the bounds: %v", err)
	}
}
