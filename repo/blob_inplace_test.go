package repo

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

// sealTestBlob seals data (compressed when compress is set) as a data blob
// of r and returns its entry and sealed bytes.
func sealTestBlob(t testing.TB, r *Repository, data []byte, compress bool) (pack.Entry, []byte) {
	t.Helper()
	id := r.key.BlobID(data)
	h := pack.BlobHandle{ID: id, Type: pack.DataBlob}
	payload, c := data, pack.CompressionNone
	if compress {
		payload, c = r.enc.EncodeAll(data, nil), pack.CompressionZstd
	}
	sealed := pack.SealBlob(r.key.AEAD(), nil, h, c, payload)
	return pack.Entry{BlobHandle: h, Compression: c, Length: uint32(len(sealed)), RawLength: uint32(len(data))}, sealed
}

// TestDecodeBlobInPlace: the in-place decode gives what DecodeBlob gives,
// for stored and compressed blobs, and refuses what DecodeBlob refuses
// (a flipped byte, a blob under another ID, a wrong length).
func TestDecodeBlobInPlace(t *testing.T) {
	r := newTestRepo(t)
	random := make([]byte, 300<<10)
	rand.NewChaCha8([32]byte{3}).Read(random)
	text := bytes.Repeat([]byte("INSERT INTO assets VALUES (1, 'x');\n"), 10000)
	for _, tc := range []struct {
		name     string
		data     []byte
		compress bool
	}{{"stored", random, false}, {"zstd", text, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e, sealed := sealTestBlob(t, r, tc.data, tc.compress)
			got, err := r.DecodeBlobInPlace(e, ID{}, bytes.Clone(sealed), nil)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("DecodeBlobInPlace: %d bytes, %v; want the %d bytes sealed", len(got), err, len(tc.data))
			}
			bad := bytes.Clone(sealed)
			bad[len(bad)/2] ^= 1
			if _, err := r.DecodeBlobInPlace(e, ID{}, bad, nil); err == nil {
				t.Error("flipped byte: no error")
			}
			other := e
			other.ID[0] ^= 1
			var be *BlobError
			if _, err := r.DecodeBlobInPlace(other, ID{}, bytes.Clone(sealed), nil); !errors.As(err, &be) {
				t.Errorf("other ID: %v, want a BlobError", err)
			}
			short := e
			short.RawLength--
			if _, err := r.DecodeBlobInPlace(short, ID{}, bytes.Clone(sealed), nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("wrong raw length: %v, want ErrCorrupt", err)
			}
			if _, err := r.DecodeBlobInPlace(e, ID{}, sealed[:10], nil); err == nil {
				t.Error("truncated: no error")
			}
		})
	}
}

// BenchmarkDecodeBlob compares the restore's per-blob work (authenticate,
// decrypt, hash) into a separate buffer and in place, for 1 MiB blobs;
// both copy the sealed blob first, as a read into the buffer would.
func BenchmarkDecodeBlob(b *testing.B) {
	r := newTestRepo(b)
	data := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{4}).Read(data)
	e, sealed := sealTestBlob(b, r, data, false)
	work := make([]byte, len(sealed))
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var plain []byte
		for b.Loop() {
			copy(work, sealed) // stands for the read into the buffer
			var err error
			if plain, err = r.DecodeBlob(e, ID{}, work, plain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("inplace", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			copy(work, sealed) // stands for the read into the buffer
			if _, err := r.DecodeBlobInPlace(e, ID{}, work, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
