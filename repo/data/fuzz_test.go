package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// Fuzz targets for every parser of repository data. Committed seeds live in
// testdata/fuzz/FuzzX/; run one with `go test -fuzz=FuzzX ./repo/data`.
func FuzzDecodeTree(f *testing.F) {
	id := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	f.Add([]byte(`{"nodes":[]}`))
	f.Add([]byte(`{"nodes":[{"name":"a","type":"dir","mode":493,"mtime":"2024-01-02T03:04:05.123456789+01:00","ctime":"0001-01-01T00:00:00Z","subtree":"` + id + `"},` +
		`{"name":"b","type":"file","size":3,"content":["` + id + `","` + id + `"],"uid":1000,"user":"u"},` +
		`{"name":"c","name_raw":"Y/8=","type":"symlink","linktarget":"x","linktarget_raw":"eP4="}]}`))
	f.Add([]byte(`{"nodes":[{"name":"d","type":"chardev","rdev":259,"mtime":"2020-01-01T00:00:00Z","ctime":"2020-01-01T00:00:00Z"}]}` + "\n"))
	f.Add([]byte(`{"nodes":[null]}`))
	// A split directory's index (format 2, docs/FORMAT.md §9.3; FuzzSplitTree fuzzes its parts).
	f.Add([]byte(`{"nodes":[],"parts":[{"first":"a","count":2,"subtree":"` + id + `"},{"first":"\ufffd","first_raw":"/w==","count":1,"subtree":"` + id + `"}]}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := DecodeTree(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		enc, err := EncodeTree(tr)
		if err != nil {
			t.Fatalf("accepted tree does not encode: %v", err)
		}
		tr2, err := DecodeTree(enc)
		if err != nil {
			t.Fatalf("re-encoded tree rejected: %v\n%s", err, enc)
		}
		enc2, err := EncodeTree(tr2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) || len(tr.Nodes) != len(tr2.Nodes) {
			t.Fatalf("tree changed in a round trip:\n%s\n%s", enc, enc2)
		}
		for i, n := range tr.Nodes {
			m := tr2.Nodes[i]
			if n.FileName() != m.FileName() || n.Type != m.Type || n.Target() != m.Target() || !n.ModTime.Equal(m.ModTime) || len(n.Content) != len(m.Content) {
				t.Fatalf("node %d changed: %+v -> %+v", i, n, m)
			}
		}
	})
}

// FuzzTreeCodec checks the direct tree codec against encoding/json in both
// directions: where parseTree takes an input, encoding/json must take it too
// and produce the same tree; and appendTree must write exactly json.Marshal's
// bytes for a tree built from the input.
func FuzzTreeCodec(f *testing.F) {
	id := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	f.Add([]byte(`{"nodes":[]}`))
	f.Add([]byte(`{"nodes":[{"name":"a\u003cb\u2028\n\"\\é","type":"dir","mode":493,"uid":0,"gid":0,"mtime":"2024-01-02T03:04:05.123456789Z","ctime":"0001-01-01T00:00:00Z","subtree":"` + id + `"},` +
		`{"name":"b","type":"file","mode":420,"uid":1000,"gid":1000,"user":"u","group":"g","mtime":"2024-01-02T03:04:05+01:00","ctime":"2024-01-02T03:04:05Z","size":3,"inode":7,"device":64768,"links":1,"content":["` + id + `","` + id + `"]},` +
		`{"name":"c","type":"symlink","mode":511,"uid":0,"gid":0,"mtime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","linktarget":"x","name_raw":"Y/8=","linktarget_raw":"eP4="}]}` + "\n"))
	f.Add([]byte(`{"nodes":[{"name":"d","type":"chardev","mode":0,"uid":0,"gid":0,"mtime":"2020-01-01T00:00:00Z","ctime":"2020-01-01T00:00:00Z","rdev":259,"content":[]}]}`))
	f.Add([]byte(`{"nodes":[{"name":"\ud83d\ude00","type":"file","mode":01,"uid":4294967296}]}`))
	// Extended attributes and flags (format amendment "extended metadata").
	f.Add([]byte(`{"nodes":[{"name":"f","type":"file","mode":436,"uid":0,"gid":0,"mtime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z",` +
		`"xattrs":[{"name":"system.posix_acl_access","value":"AgAAAAEABgD/////AgAGANIEAAAEAAQA/////xAABgD/////IAAEAP////8="},{"name":"user.a\u003c","value":""},{"name":"user.n","value":null}],"flags":48}]}` + "\n"))
	f.Add([]byte(`{"nodes":[{"name":"d","type":"dir","mode":493,"uid":0,"gid":0,"mtime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","subtree":"` + id + `","xattrs":[],"flags":4294967296}]}`))
	f.Add([]byte(`{"nodes":[{"name":"d","type":"dir","mode":493,"uid":0,"gid":0,"mtime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","xattrs":[{"value":"eA==","name":"user.x"},{"name":"user.y","value":"eA==","extra":1}],"flags":16}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Decoding.
		if fast, ok := parseTree(b); ok {
			ref, err := decodeTreeJSON(b)
			if err != nil {
				t.Fatalf("parseTree accepted what encoding/json rejects (%v):\n%q", err, b)
			}
			if !reflect.DeepEqual(fast, ref) {
				t.Fatalf("parseTree and encoding/json differ on %q:\n%#v\n%#v", b, fast, ref)
			}
		}
		// Encoding: a tree built from the input bytes.
		tr := treeFromBytes(b)
		ref, err := json.Marshal(tr)
		got, ok := appendTree(nil, tr)
		if ok {
			if err != nil {
				t.Fatalf("appendTree encoded what json.Marshal refuses (%v)", err)
			}
			if !bytes.Equal(got, ref) {
				t.Fatalf("appendTree differs from json.Marshal:\n%s\n%s", got, ref)
			}
			back, ok := parseTree(got)
			if !ok {
				t.Fatalf("parseTree refuses the canonical encoding %s", got)
			}
			// Invalid UTF-8 becomes U+FFFD on the first trip; from then
			// on the encoding is stable.
			again, _ := appendTree(nil, back)
			back2, ok := parseTree(again)
			if !ok {
				t.Fatalf("parseTree refuses the canonical encoding %s", again)
			}
			if again2, _ := appendTree(nil, back2); !bytes.Equal(again, again2) {
				t.Fatalf("round trip changed the encoding:\n%s\n%s", again, again2)
			}
		}
	})
}

// treeFromBytes makes a tree whose strings, numbers and times come from b
// (arbitrary bytes, invalid UTF-8 included).
func treeFromBytes(b []byte) *Tree {
	take := func(n int) []byte {
		if n > len(b) {
			n = len(b)
		}
		out := b[:n]
		b = b[n:]
		return out
	}
	num := func() uint64 {
		var v uint64
		for _, c := range take(int(take1(&b)) % 9) {
			v = v<<8 | uint64(c)
		}
		return v
	}
	str := func() string { return string(take(int(take1(&b)) % 24)) }
	tr := &Tree{Nodes: []*Node{}}
	for len(b) > 0 && len(tr.Nodes) < 16 {
		n := &Node{Name: str(), Type: str(), Mode: uint32(num()), UID: uint32(num()), GID: uint32(num()),
			User: str(), Group: str(), Size: num(), Inode: num(), Device: num(), Links: num(), Rdev: num(), LinkTarget: str()}
		sec := int64(num()) % (400_000 * 365 * 86400)
		n.ModTime = time.Unix(sec-200_000*365*86400, int64(num()%1e9)).UTC()
		n.ChangeTime = time.Unix(int64(num()%(1<<34)), 0)
		if num()%2 == 0 {
			n.ChangeTime = n.ChangeTime.UTC()
		}
		for range num() % 3 {
			var id ID
			copy(id[:], take(32))
			n.Content = append(n.Content, id)
		}
		if num()%2 == 1 {
			var id ID
			copy(id[:], take(32))
			n.Subtree = &id
		}
		if raw := take(int(num() % 5)); len(raw) > 0 {
			n.NameRaw = bytes.Clone(raw)
		}
		if raw := take(int(num() % 5)); len(raw) > 0 {
			n.LinkTargetRaw = bytes.Clone(raw)
		}
		for i := range num() % 4 {
			x := XAttr{Name: str()}
			if i != 2 { // the third is nil: encoded as null
				x.Value = bytes.Clone(take(int(num() % 40)))
			}
			n.XAttrs = append(n.XAttrs, x)
		}
		n.Flags = uint32(num())
		tr.Nodes = append(tr.Nodes, n)
	}
	return tr
}

func take1(b *[]byte) byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}
