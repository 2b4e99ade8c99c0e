package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// thumbTree is a directory like Immich's thumbs/<user>/<xx>/<yy>/: a few
// small files with one content blob each.
func thumbTree(n int) *Tree {
	t := &Tree{}
	mt := time.Date(2024, 6, 1, 12, 0, 0, 123456789, time.UTC)
	for i := range n {
		var id ID
		id[0], id[31] = byte(i), 0xa5
		t.Nodes = append(t.Nodes, &Node{Name: fmt.Sprintf("%08x-9c1e-4b7e-a3c4-%012x-thumbnail.webp", i, i), Type: NodeFile,
			Mode: 0o644, UID: 1000, GID: 1000, User: "immich", Group: "immich", ModTime: mt, ChangeTime: mt,
			Size: 12345, Inode: 9982607 + uint64(i), Device: 65024, Links: 1, Content: []ID{id}})
	}
	return t
}

func TestTreeCodecMatchesEncodingJSON(t *testing.T) {
	tr := thumbTree(3)
	tr.Nodes = append(tr.Nodes, &Node{Name: "a<b>&\u2028\n\"\\\x01é", Type: NodeDir, Mode: 0o755, ModTime: time.Unix(0, 1).UTC(), Subtree: &ID{1}},
		&Node{Name: "z", NameRaw: []byte{'z', 0xff}, Type: NodeSymlink, LinkTarget: "t", LinkTargetRaw: []byte{0xfe}, ModTime: time.Unix(1e9, 0).UTC()})
	got, err := EncodeTree(tr)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(ref, '\n')) {
		t.Fatalf("EncodeTree differs from encoding/json:\n%s\n%s", got, ref)
	}
	fast, ok := parseTree(got)
	if !ok {
		t.Fatalf("parseTree refuses the canonical encoding:\n%s", got)
	}
	slow, err := decodeTreeJSON(got)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncodeTree(fast)
	if again2, _ := EncodeTree(slow); !bytes.Equal(again, got) || !bytes.Equal(again2, got) {
		t.Fatalf("round trip changed the tree:\n%s\n%s\n%s", got, again, again2)
	}
	// A non-UTC time is left to encoding/json, which writes its offset.
	tr.Nodes[0].ModTime = tr.Nodes[0].ModTime.In(time.FixedZone("", 3600))
	if _, ok := appendTree(nil, tr); ok {
		t.Fatal("appendTree took a non-UTC time")
	}
	if b, err := EncodeTree(tr); err != nil || !bytes.Contains(b, []byte(`+01:00"`)) {
		t.Fatalf("fallback encoding: %v %s", err, b)
	}
}

func BenchmarkTreeCodec(b *testing.B) {
	tr := thumbTree(2)
	enc, err := EncodeTree(tr)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeTree(tr)
		}
	})
	b.Run("encode-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(tr)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeTree(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeTreeJSON(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
