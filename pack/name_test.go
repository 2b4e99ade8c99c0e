package pack_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/pack"
)

func TestNameCoversTrailerOnly(t *testing.T) {
	key, err := crypto.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := pack.NewWriter(&buf, key.AEAD())
	data := make([]byte, 4096)
	rand.Read(data)
	h := pack.BlobHandle{ID: key.BlobID(data), Type: pack.DataBlob}
	if err := w.Add(h, pack.CompressionNone, pack.SealBlob(key.AEAD(), nil, h, pack.CompressionNone, data), len(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	name, err := pack.Name(b)
	if err != nil {
		t.Fatal(err)
	}
	// A flipped header byte changes the name; a flipped blob byte does not
	// (the blob's own tag detects it).
	hdrStart := len(b) - 4 - int(uint32(b[len(b)-4])|uint32(b[len(b)-3])<<8|uint32(b[len(b)-2])<<16|uint32(b[len(b)-1])<<24)
	c := bytes.Clone(b)
	c[hdrStart+5] ^= 1
	if n2, _ := pack.Name(c); n2 == name {
		t.Error("flipping a header byte did not change the name")
	}
	c = bytes.Clone(b)
	c[10] ^= 1
	if n3, _ := pack.Name(c); n3 != name {
		t.Error("flipping a blob byte changed the name")
	}
	if got := pack.NameFromTrailer(b[hdrStart:]); got != name {
		t.Error("NameFromTrailer differs from Name")
	}
	// Two packs with identical content get different names (random header nonce).
	var buf2 bytes.Buffer
	w2 := pack.NewWriter(&buf2, key.AEAD())
	w2.Add(h, pack.CompressionNone, b[:len(data)+crypto.Overhead], len(data))
	w2.Finalize()
	if n4, _ := pack.Name(buf2.Bytes()); n4 == name {
		t.Error("identical packs got the same name")
	}
	for _, bad := range [][]byte{nil, {1, 2}, {0xff, 0xff, 0xff, 0x7f}} {
		if _, err := pack.Name(bad); !errors.Is(err, pack.ErrCorrupt) {
			t.Errorf("Name(%x): %v, want ErrCorrupt", bad, err)
		}
	}
}
