package pack

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/crypto"
)

func newAEAD(t testing.TB) cipher.AEAD {
	t.Helper()
	key := make([]byte, crypto.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return fixedAEAD(t, key)
}

func fixedAEAD(t testing.TB, key []byte) cipher.AEAD {
	t.Helper()
	return cipherAEAD(t, crypto.XChaCha20Poly1305, key)
}

// cipherAEAD returns repository cipher c keyed with key.
func cipherAEAD(t testing.TB, c crypto.Cipher, key []byte) cipher.AEAD {
	t.Helper()
	a, err := c.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type testBlob struct {
	h       BlobHandle
	c       Compression
	payload []byte
	rawLen  int
}

// makeBlobs returns n deterministic blobs of mixed types, compressions and sizes.
func makeBlobs(seed uint64, n, maxSize int) []testBlob {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bs := make([]testBlob, n)
	for i := range bs {
		var b testBlob
		for j := range b.h.ID {
			b.h.ID[j] = byte(r.Uint32())
		}
		b.h.Type = DataBlob
		if r.IntN(3) == 0 {
			b.h.Type = TreeBlob
		}
		if r.IntN(2) == 0 {
			b.c = CompressionZstd
		}
		b.payload = make([]byte, r.IntN(maxSize+1)) // includes empty payloads
		for j := range b.payload {
			b.payload[j] = byte(r.Uint32())
		}
		b.rawLen = len(b.payload) + r.IntN(100)
		bs[i] = b
	}
	return bs
}

// writePack writes blobs with a Writer and returns the pack bytes and entries.
func writePack(t testing.TB, a cipher.AEAD, blobs []testBlob) ([]byte, []Entry) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, a)
	for _, b := range blobs {
		if err := w.Add(b.h, b.c, SealBlob(a, nil, b.h, b.c, b.payload), b.rawLen); err != nil {
			t.Fatal(err)
		}
	}
	if w.Count() != len(blobs) {
		t.Fatalf("Count = %d, want %d", w.Count(), len(blobs))
	}
	size := w.Size()
	if size != int64(buf.Len()) {
		t.Fatalf("Size = %d, buffer has %d", size, buf.Len())
	}
	es, err := w.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), es
}

func TestBlobTypeString(t *testing.T) {
	for _, tc := range []struct {
		t    BlobType
		want string
	}{{DataBlob, "data"}, {TreeBlob, "tree"}, {0, "unknown(0)"}, {7, "unknown(7)"}} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", uint8(tc.t), got, tc.want)
		}
	}
}

func TestBlobADLayout(t *testing.T) {
	var h BlobHandle
	for i := range h.ID {
		h.ID[i] = byte(i + 1)
	}
	h.Type = TreeBlob
	ad := BlobAD(h, CompressionZstd)
	want := append([]byte("ivb1\x02\x01"), h.ID[:]...)
	if !bytes.Equal(ad, want) || len(ad) != 38 {
		t.Fatalf("BlobAD = %x, want %x", ad, want)
	}
}

func TestHeaderLayout(t *testing.T) {
	e := Entry{BlobHandle: BlobHandle{Type: DataBlob}, Compression: CompressionZstd, Offset: 0, Length: 0x01020304, RawLength: 0x0a0b0c0d}
	e.ID[0], e.ID[31] = 0xaa, 0xbb
	got := EncodeHeader([]Entry{e})
	want := []byte("IVPH\x01\x01\x00\x00\x00" + "\x01\x01" + "\x00\x00\x00\x00" + "\x04\x03\x02\x01" + "\x0d\x0c\x0b\x0a")
	want = append(want, e.ID[:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeHeader = %x\nwant           %x", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range crypto.Ciphers {
		t.Run(string(c), func(t *testing.T) { testRoundTrip(t, c) })
	}
}

func testRoundTrip(t *testing.T, c crypto.Cipher) {
	newAEAD := func(t testing.TB) cipher.AEAD {
		key := make([]byte, crypto.KeySize)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		return cipherAEAD(t, c, key)
	}
	a := newAEAD(t)
	for _, n := range []int{0, 1, 2, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			blobs := makeBlobs(uint64(n), n, 3000)
			data, written := writePack(t, a, blobs)
			es, err := ReadHeader(a, bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != n || len(written) != n {
				t.Fatalf("got %d/%d entries, want %d", len(es), len(written), n)
			}
			var off uint32
			for i, e := range es {
				b := blobs[i]
				want := Entry{BlobHandle: b.h, Compression: b.c, Offset: off, Length: uint32(len(b.payload) + crypto.Overhead), RawLength: uint32(b.rawLen)}
				if e != want || written[i] != want {
					t.Fatalf("entry %d = %+v (written %+v), want %+v", i, e, written[i], want)
				}
				off += e.Length
				p, err := OpenBlob(a, nil, e, data[e.Offset:e.Offset+e.Length])
				if err != nil {
					t.Fatalf("blob %d: %v", i, err)
				}
				if !bytes.Equal(p, b.payload) {
					t.Fatalf("blob %d payload mismatch", i)
				}
			}
			// Another key must not open it.
			if _, err := ReadHeader(newAEAD(t), bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrCorrupt) || !errors.Is(err, crypto.ErrAuth) {
				t.Fatalf("wrong key: err = %v, want ErrCorrupt wrapping ErrAuth", err)
			}
		})
	}
}

func TestEmptyPackSize(t *testing.T) {
	a := newAEAD(t)
	data, es := writePack(t, a, nil)
	if len(es) != 0 {
		t.Fatalf("entries = %v", es)
	}
	if want := HeaderFixedSize + crypto.Overhead + 4; len(data) != want {
		t.Fatalf("empty pack is %d bytes, want %d", len(data), want)
	}
}

func requireFormatError(t testing.TB, err error, context string) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: err = %v (%T), want *FormatError", context, err, err)
	}
}

func TestHeaderByteFlips(t *testing.T) {
	a := newAEAD(t)
	blobs := makeBlobs(1, 3, 100)
	data, _ := writePack(t, a, blobs)
	hl := int(binary.LittleEndian.Uint32(data[len(data)-4:]))
	start := len(data) - 4 - hl
	for i := start; i < len(data); i++ {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			mut := bytes.Clone(data)
			mut[i] ^= mask
			_, err := ReadHeader(a, bytes.NewReader(mut), int64(len(mut)))
			requireFormatError(t, err, fmt.Sprintf("flip byte %d mask %#x", i, mask))
		}
	}
}

func TestTruncated(t *testing.T) {
	a := newAEAD(t)
	data, _ := writePack(t, a, makeBlobs(2, 4, 200))
	for n := 0; n < len(data); n++ {
		_, err := ReadHeader(a, bytes.NewReader(data[:n]), int64(n))
		requireFormatError(t, err, fmt.Sprintf("truncated to %d", n))
	}
	// Bytes prepended or appended also break the pack.
	for _, mut := range [][]byte{append([]byte{0}, data...), append(bytes.Clone(data), 0)} {
		_, err := ReadHeader(a, bytes.NewReader(mut), int64(len(mut)))
		requireFormatError(t, err, "extra byte")
	}
}

func TestReadHeaderIOError(t *testing.T) {
	a := newAEAD(t)
	data, _ := writePack(t, a, makeBlobs(3, 2, 10))
	// Size larger than the data: the reader returns io.EOF, which is an I/O
	// problem (wrong size), reported wrapped, not as corruption.
	_, err := ReadHeader(a, bytes.NewReader(data), int64(len(data))+10)
	if err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want an I/O error", err)
	}
	boom := errors.New("boom")
	_, err = ReadHeader(a, errReaderAt{boom}, 1000)
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want wrapped boom", err)
	}
}

type errReaderAt struct{ err error }

func (r errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, r.err }

func TestReadHeaderHostileLength(t *testing.T) {
	a := newAEAD(t)
	for _, hl := range []uint32{0, 48, 1 << 31, 0xffffffff, uint32(maxSealedHeader) + EntrySize} {
		data := make([]byte, 100)
		binary.LittleEndian.PutUint32(data[96:], hl)
		_, err := ReadHeader(a, bytes.NewReader(data), 100)
		requireFormatError(t, err, fmt.Sprintf("length %d", hl))
	}
}

func TestOpenBlobTamper(t *testing.T) {
	a := newAEAD(t)
	h := BlobHandle{Type: DataBlob}
	h.ID[3] = 9
	payload := []byte("hello, pack")
	sealed := SealBlob(a, nil, h, CompressionNone, payload)
	e := Entry{BlobHandle: h, Compression: CompressionNone, Length: uint32(len(sealed)), RawLength: uint32(len(payload))}
	if p, err := OpenBlob(a, []byte("x"), e, sealed); err != nil || string(p) != "xhello, pack" {
		t.Fatalf("OpenBlob = %q, %v", p, err)
	}
	for i := range sealed {
		mut := bytes.Clone(sealed)
		mut[i] ^= 0x10
		_, err := OpenBlob(a, nil, e, mut)
		requireFormatError(t, err, fmt.Sprintf("flip %d", i))
		if !errors.Is(err, crypto.ErrAuth) {
			t.Fatalf("flip %d: err %v does not wrap ErrAuth", i, err)
		}
	}
	other := h
	other.ID[0] ^= 1
	for name, e2 := range map[string]Entry{
		"type":        {BlobHandle: BlobHandle{ID: h.ID, Type: TreeBlob}, Length: e.Length},
		"id":          {BlobHandle: other, Length: e.Length},
		"compression": {BlobHandle: h, Compression: CompressionZstd, Length: e.Length},
		"length":      {BlobHandle: h, Length: e.Length + 1},
	} {
		_, err := OpenBlob(a, nil, e2, sealed)
		requireFormatError(t, err, name)
	}
}

func validHeader(n int) []byte {
	es := make([]Entry, n)
	var off uint32
	for i := range es {
		es[i] = Entry{BlobHandle: BlobHandle{Type: DataBlob}, Offset: off, Length: 100, RawLength: 60}
		es[i].ID[0] = byte(i)
		off += 100
	}
	return EncodeHeader(es)
}

func TestDecodeHeaderErrors(t *testing.T) {
	patch := func(n, at int, v ...byte) []byte {
		b := validHeader(n)
		copy(b[at:], v)
		return b
	}
	u32 := func(n, at int, v uint32) []byte {
		b := validHeader(n)
		binary.LittleEndian.PutUint32(b[at:], v)
		return b
	}
	e1 := HeaderFixedSize + EntrySize // second entry
	for _, tc := range []struct {
		name     string
		b        []byte
		packSize int64
		want     string
	}{
		{"short", []byte("IVPH"), 0, "too short"},
		{"magic", patch(1, 0, 'X'), 0, "magic"},
		{"version", patch(1, 4, 2), 0, "unsupported pack header version 2"},
		{"count high", u32(1, 5, 2), 0, "needs"},
		{"count low", u32(2, 5, 1), 0, "needs"},
		{"count huge", u32(1, 5, 0xffffffff), 0, "above maximum"},
		{"type 0", patch(2, e1, 0), 0, "unknown blob type 0"},
		{"type 3", patch(2, e1, 3), 0, "unknown blob type 3"},
		{"compression", patch(2, e1+1, 2), 0, "unknown compression 2"},
		{"length small", u32(2, e1+6, crypto.Overhead-1), 0, "below minimum"},
		{"length big", u32(2, e1+6, MaxBlobSize+1), 0, "above maximum"},
		{"raw big", u32(2, e1+10, MaxBlobSize+1), 0, "raw length"},
		{"gap", u32(2, e1+2, 101), 0, "contiguous"},
		{"overlap", u32(2, e1+2, 99), 0, "contiguous"},
		{"first not 0", u32(1, HeaderFixedSize+2, 1), 0, "contiguous"},
		{"beyond pack", validHeader(2), 200 + int64(HeaderFixedSize+2*EntrySize+crypto.Overhead+4) - 1, "beyond blob area"},
		{"short of pack", validHeader(2), 200 + int64(HeaderFixedSize+2*EntrySize+crypto.Overhead+4) + 1, "blob area is"},
		{"pack tiny", validHeader(2), 10, "larger than pack"},
		{"trailing", append(validHeader(1), 0), 0, "needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeHeader(tc.b, tc.packSize)
			requireFormatError(t, err, tc.name)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
	// The exact pack size is accepted.
	if es, err := DecodeHeader(validHeader(2), 200+int64(HeaderFixedSize+2*EntrySize+crypto.Overhead+4)); err != nil || len(es) != 2 {
		t.Fatalf("exact size: %v, %v", es, err)
	}
}

type failWriter struct {
	n   int // bytes accepted before failing
	err error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	n := w.n
	w.n = 0
	return n, w.err
}

func TestWriterSticky(t *testing.T) {
	a := newAEAD(t)
	boom := errors.New("disk full")
	blobs := makeBlobs(4, 3, 100)
	sealed := SealBlob(a, nil, blobs[0].h, blobs[0].c, blobs[0].payload)
	w := NewWriter(&failWriter{n: len(sealed) + 5, err: boom}, a)
	if err := w.Add(blobs[0].h, blobs[0].c, sealed, 1); err != nil {
		t.Fatal(err)
	}
	s1 := SealBlob(a, nil, blobs[1].h, blobs[1].c, make([]byte, 50))
	if err := w.Add(blobs[1].h, blobs[1].c, s1, 50); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if err := w.Add(blobs[2].h, blobs[2].c, s1, 50); !errors.Is(err, ErrBroken) {
		t.Fatalf("after failure: err = %v, want ErrBroken", err)
	}
	if _, err := w.Finalize(); !errors.Is(err, ErrBroken) {
		t.Fatalf("Finalize after failure: err = %v, want ErrBroken", err)
	}

	// A failing header write breaks the writer too.
	w = NewWriter(&failWriter{n: 0, err: boom}, a)
	if _, err := w.Finalize(); !errors.Is(err, boom) {
		t.Fatalf("Finalize: err = %v, want boom", err)
	}
	if _, err := w.Finalize(); !errors.Is(err, ErrBroken) {
		t.Fatalf("second Finalize: err = %v, want ErrBroken", err)
	}
	if err := w.Add(blobs[0].h, blobs[0].c, sealed, 1); !errors.Is(err, ErrBroken) {
		t.Fatalf("Add after Finalize: err = %v, want ErrBroken", err)
	}
}

func TestWriterAddInvalid(t *testing.T) {
	a := newAEAD(t)
	var buf bytes.Buffer
	w := NewWriter(&buf, a)
	h := BlobHandle{Type: DataBlob}
	ok := make([]byte, crypto.Overhead)
	for name, f := range map[string]func() error{
		"type":        func() error { return w.Add(BlobHandle{Type: 9}, CompressionNone, ok, 0) },
		"compression": func() error { return w.Add(h, 5, ok, 0) },
		"short":       func() error { return w.Add(h, CompressionNone, ok[:39], 0) },
		"raw":         func() error { return w.Add(h, CompressionNone, ok, MaxBlobSize+1) },
		"neg raw":     func() error { return w.Add(h, CompressionNone, ok, -1) },
	} {
		if err := f(); err == nil || errors.Is(err, ErrBroken) {
			t.Errorf("%s: err = %v, want a non-sticky error", name, err)
		}
	}
	// The writer is still usable.
	if err := w.Add(h, CompressionNone, SealBlob(a, nil, h, CompressionNone, nil), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	if es, err := ReadHeader(a, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil || len(es) != 1 {
		t.Fatalf("ReadHeader = %v, %v", es, err)
	}
}

var fuzzKey = bytes.Repeat([]byte{0x42}, 32)

// FuzzReadHeader reads b as a pack sealed with repository cipher
// crypto.Ciphers[c % len(crypto.Ciphers)] under fuzzKey (c = 0:
// XChaCha20-Poly1305, 1: XAES-256-GCM), so that the fuzzer gets past
// authentication with either cipher.
func FuzzReadHeader(f *testing.F) {
	aeads := make([]cipher.AEAD, len(crypto.Ciphers))
	for i, c := range crypto.Ciphers {
		aeads[i] = cipherAEAD(f, c, fuzzKey)
	}
	for i, a := range aeads {
		c := uint8(i)
		for _, n := range []int{0, 1, 3} {
			data, _ := writePack(f, a, makeBlobs(uint64(n), n, 64))
			f.Add(c, data)
			// Mutations of real packs: flipped length, truncated, extended.
			mut := bytes.Clone(data)
			mut[len(mut)-1] ^= 0x80
			f.Add(c, mut)
			f.Add(c, data[:len(data)-1])
			f.Add(c, append(bytes.Clone(data), data...))
			// Opened with the other cipher: authentication fails.
			f.Add(c+1, data)
		}
		f.Add(c, []byte{})
		f.Add(c, []byte{0xff, 0xff, 0xff, 0xff})
	}
	f.Fuzz(func(t *testing.T, c uint8, b []byte) {
		a := aeads[int(c)%len(aeads)]
		es, err := ReadHeader(a, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			requireFormatError(t, err, "ReadHeader")
			return
		}
		// Accepted: the blobs must tile the blob area exactly.
		var end uint64
		for _, e := range es {
			if uint64(e.Offset) != end {
				t.Fatalf("accepted non-contiguous entries: %+v", es)
			}
			end += uint64(e.Length)
		}
		hl := binary.LittleEndian.Uint32(b[len(b)-4:])
		if end+uint64(hl)+4 != uint64(len(b)) {
			t.Fatalf("accepted pack with gap: blobs end %d, header %d, size %d", end, hl, len(b))
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(validHeader(0), int64(0))
	f.Add(validHeader(1), int64(0))
	f.Add(validHeader(3), int64(300+HeaderFixedSize+3*EntrySize+crypto.Overhead+4))
	f.Add([]byte("IVPH\x02\x00\x00\x00\x00"), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		es, err := DecodeHeader(b, size)
		if err != nil {
			requireFormatError(t, err, "DecodeHeader")
			return
		}
		if got := EncodeHeader(es); !bytes.Equal(got, b) {
			t.Fatalf("round trip differs:\n in  %x\n out %x", b, got)
		}
	})
}

func BenchmarkWriterAdd(b *testing.B) {
	a := newAEAD(b)
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			h := BlobHandle{Type: DataBlob}
			sealed := SealBlob(a, nil, h, CompressionNone, make([]byte, size))
			b.ReportAllocs()
			b.SetBytes(int64(len(sealed)))
			b.ResetTimer()
			w := NewWriter(io.Discard, a)
			for i := 0; i < b.N; i++ {
				if w.Count() == 4096 || w.Size() > 1<<30 {
					w = NewWriter(io.Discard, a)
				}
				h.ID[0], h.ID[1] = byte(i), byte(i>>8)
				if err := w.Add(h, CompressionNone, sealed, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSealBlob(b *testing.B) {
	a := newAEAD(b)
	payload := make([]byte, 1<<20)
	dst := make([]byte, 0, len(payload)+crypto.Overhead)
	h := BlobHandle{Type: DataBlob}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for i := 0; i < b.N; i++ {
		dst = SealBlob(a, dst[:0], h, CompressionNone, payload)
	}
}

func BenchmarkReadHeader(b *testing.B) {
	a := newAEAD(b)
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			data, _ := writePack(b, a, makeBlobs(5, n, 0))
			r := bytes.NewReader(data)
			b.ReportAllocs()
			b.SetBytes(int64(binary.LittleEndian.Uint32(data[len(data)-4:])))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := ReadHeader(a, r, int64(len(data))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
