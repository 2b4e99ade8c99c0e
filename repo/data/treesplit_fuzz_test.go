package data

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// FuzzSplitTree fuzzes the reading of split directories (docs/FORMAT.md
// §9.3): the input is an index tree and its parts separated by NUL bytes
// (which JSON text cannot hold). DecodeTree must accept only valid indexes
// and re-encode them stably; assembling must accept only parts consistent
// with the index, and then yield the index's entries strictly sorted.
func FuzzSplitTree(f *testing.F) {
	id := `"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"`
	file := func(name string) string {
		return `{"name":"` + name + `","type":"file","mode":420,"uid":0,"gid":0,"mtime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z"}`
	}
	f.Add([]byte(`{"nodes":[],"parts":[{"first":"a","count":2,"subtree":` + id + `},{"first":"c","count":1,"subtree":` + id + `}]}` + "\n\x00" +
		`{"nodes":[` + file("a") + `,` + file("b") + `]}` + "\x00" + `{"nodes":[` + file("c") + `]}`))
	f.Add([]byte(`{"nodes":[],"parts":[{"first":"\ufffd","first_raw":"/w==","count":1,"subtree":` + id + `}]}` + "\x00" +
		`{"nodes":[{"name":"\ufffd","name_raw":"/w==","type":"dir","mode":493,"uid":0,"gid":0,"mtime":"2024-01-02T03:04:05Z","ctime":"2024-01-02T03:04:05Z","subtree":` + id + `}]}`))
	f.Add([]byte(`{"nodes":[],"parts":[{"first":"b","count":1,"subtree":` + id + `},{"first":"c","count":1,"subtree":` + id + `}]}` + "\x00" +
		`{"nodes":[` + file("b") + `,` + file("c") + `]}` + "\x00" + `{"nodes":[` + file("c") + `]}`))
	f.Add([]byte(`{"nodes":[],"parts":[{"first":"a","count":1,"subtree":` + id + `}]}` + "\x00" +
		`{"nodes":[],"parts":[{"first":"a","count":1,"subtree":` + id + `}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		segs := bytes.Split(b, []byte{0})
		idx, err := DecodeTree(segs[0])
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		enc, err := EncodeTree(idx)
		if err != nil {
			t.Fatalf("accepted tree does not encode: %v", err)
		}
		idx2, err := DecodeTree(enc)
		if err != nil {
			t.Fatalf("re-encoded tree rejected: %v\n%s", err, enc)
		}
		if enc2, _ := EncodeTree(idx2); !bytes.Equal(enc, enc2) || len(idx2.Parts) != len(idx.Parts) {
			t.Fatalf("tree changed in a round trip:\n%s\n%s", enc, enc2)
		}
		if len(idx.Parts) == 0 {
			return
		}
		errMissing := errors.New("no such part")
		next := 1
		load := func(ctx context.Context, _ ID) (*Tree, error) {
			if next >= len(segs) {
				return nil, errMissing
			}
			next++
			return DecodeTree(segs[next-1])
		}
		full, err := AssembleTree(context.Background(), load, idx)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, errMissing) && !errors.Is(err, ErrDirectoryTooLarge) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		var total uint64
		for _, p := range idx.Parts {
			total += p.Count
		}
		if uint64(len(full.Nodes)) != total {
			t.Fatalf("assembled %d nodes, the index counts %d", len(full.Nodes), total)
		}
		for i := 1; i < len(full.Nodes); i++ {
			if full.Nodes[i-1].FileName() >= full.Nodes[i].FileName() {
				t.Fatalf("assembled nodes not strictly sorted at %d: %q, %q", i, full.Nodes[i-1].FileName(), full.Nodes[i].FileName())
			}
		}
		// An assembled directory is a valid single tree.
		if one, err := EncodeTree(full); err != nil {
			t.Fatal(err)
		} else if _, err := DecodeTree(one); err != nil {
			t.Fatalf("assembled directory rejected as one tree: %v", err)
		}
	})
}
