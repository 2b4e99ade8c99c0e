package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

func randID(r *mrand.Rand) (id ID) {
	for i := 0; i < len(id); i += 8 {
		binary.LittleEndian.PutUint64(id[i:], r.Uint64())
	}
	return id
}

// randDataPack returns a pack with a random ID (its first 8 bytes) holding
// n data blobs with random IDs, each size bytes, stored one after another.
func randDataPack(r *mrand.Rand, n int, size uint32) PackBlobs {
	pb := PackBlobs{Entries: make([]pack.Entry, n)}
	binary.LittleEndian.PutUint64(pb.Pack[:], r.Uint64())
	for i := range pb.Entries {
		e := &pb.Entries[i]
		e.Type = pack.DataBlob
		e.ID = randID(r)
		e.Offset, e.Length, e.RawLength = uint32(i)*size, size, size
	}
	return pb
}

// makeEntries returns n contiguous valid entries with random IDs.
func makeEntries(r *mrand.Rand, n int) []pack.Entry {
	es := make([]pack.Entry, n)
	var off uint32
	for i := range es {
		t := pack.DataBlob
		if r.IntN(4) == 0 {
			t = pack.TreeBlob
		}
		l := uint32(40 + r.IntN(1<<20))
		es[i] = pack.Entry{
			BlobHandle:  pack.BlobHandle{ID: randID(r), Type: t},
			Compression: pack.Compression(r.IntN(2)),
			Offset:      off,
			Length:      l,
			RawLength:   uint32(r.IntN(pack.MaxBlobSize + 1)),
		}
		off += l
	}
	return es
}

func makeFile(seed uint64, nSup, nPacks, perPack int) *File {
	r := mrand.New(mrand.NewPCG(seed, 1))
	f := &File{}
	for i := 0; i < nSup; i++ {
		f.Supersedes = append(f.Supersedes, randID(r))
	}
	for i := 0; i < nPacks; i++ {
		f.Packs = append(f.Packs, PackBlobs{Pack: randID(r), Entries: makeEntries(r, perPack)})
	}
	return f
}

func TestFileRoundTrip(t *testing.T) {
	for _, tc := range []struct{ sup, packs, per int }{{0, 0, 0}, {1, 1, 1}, {3, 5, 100}, {0, 2, 0}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			f := makeFile(uint64(tc.packs), tc.sup, tc.packs, tc.per)
			b := EncodeFile(f)
			got, err := DecodeFile(b)
			if err != nil {
				t.Fatal(err)
			}
			// Normalise nil vs empty for comparison.
			if len(f.Supersedes) == 0 {
				f.Supersedes = nil
			}
			if len(f.Packs) == 0 {
				f.Packs = nil
			}
			if !reflect.DeepEqual(got, f) {
				t.Fatalf("round trip differs")
			}
		})
	}
}

func TestFileLayout(t *testing.T) {
	var sup, pk, blob ID
	sup[0], pk[0], blob[0] = 0x11, 0x22, 0x33
	f := &File{Supersedes: []ID{sup}, Packs: []PackBlobs{{Pack: pk, Entries: []pack.Entry{{
		BlobHandle: pack.BlobHandle{ID: blob, Type: pack.TreeBlob}, Compression: pack.CompressionZstd,
		Offset: 300, Length: 41, RawLength: 0,
	}}}}}
	want := []byte("IVIX\x01\x01")
	want = append(want, sup[:]...)
	want = append(want, 1)
	want = append(want, pk[:]...)
	want = append(want, 1, 2, 1, 0xac, 0x02, 41, 0)
	want = append(want, blob[:]...)
	if got := EncodeFile(f); !bytes.Equal(got, want) {
		t.Fatalf("EncodeFile = %x\nwant        %x", got, want)
	}
}

func requireFormatError(t testing.TB, err error, context string) {
	t.Helper()
	var fe *pack.FormatError
	if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: err = %v (%T), want *pack.FormatError", context, err, err)
	}
}

func TestDecodeFileErrors(t *testing.T) {
	valid := EncodeFile(makeFile(1, 1, 1, 1))
	// Offsets in valid: 0 magic, 4 version, 5 nSup, 6 sup id, 38 nPacks,
	// 39 pack id, 71 nEntries, 72 entry (type, comp, varints…).
	patch := func(at int, v ...byte) []byte {
		b := bytes.Clone(valid)
		copy(b[at:], v)
		return b
	}
	entry := func(typ, comp byte, off, length, raw uint64) []byte {
		b := []byte("IVIX\x01\x00\x01")
		b = append(b, make([]byte, 32)...)
		b = append(b, 1, typ, comp)
		b = binary.AppendUvarint(b, off)
		b = binary.AppendUvarint(b, length)
		b = binary.AppendUvarint(b, raw)
		return append(b, make([]byte, 32)...)
	}
	if _, err := DecodeFile(entry(1, 0, 0, 40, 0)); err != nil {
		t.Fatalf("baseline entry rejected: %v", err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"magic", patch(0, 'X'), "bad magic"},
		{"version", patch(4, 2), "unsupported index file version 2"},
		{"trailing", append(bytes.Clone(valid), 0), "trailing"},
		{"truncated", valid[:len(valid)-1], "truncated"},
		{"huge sup count", []byte("IVIX\x01\xff\xff\xff\xff\x0f"), "out of range"},
		{"sup count vs bytes", []byte("IVIX\x01\xe8\x07"), "exceeds"},
		{"huge pack count", append([]byte("IVIX\x01\x00"), binary.AppendUvarint(nil, 1<<40)...), "out of range"},
		{"pack count vs bytes", []byte("IVIX\x01\x00\x05"), "exceeds"},
		{"huge entry count", append(append([]byte("IVIX\x01\x00\x01"), make([]byte, 32)...), 0xff, 0xff, 0x03), "exceeds"},
		{"non-minimal uvarint", patch(5, 0x81, 0x00), "non-minimal"},
		{"bad uvarint", []byte("IVIX\x01\xff"), "bad uvarint"},
		{"type", entry(3, 0, 0, 40, 0), "unknown blob type 3"},
		{"compression", entry(1, 2, 0, 40, 0), "unknown compression 2"},
		{"offset", entry(1, 0, 1<<32, 40, 0), "offset out of range"},
		{"length", entry(1, 0, 0, pack.MaxBlobSize+1, 0), "length out of range"},
		{"short length", entry(1, 0, 0, 39, 0), "below minimum"},
		{"raw", entry(1, 0, 0, 40, pack.MaxBlobSize+1), "raw length out of range"},
		{"end beyond 4GiB", entry(1, 0, 1<<32-40, 41, 0), "beyond 4 GiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeFile(tc.b)
			requireFormatError(t, err, tc.name)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLocationEntry(t *testing.T) {
	l := Location{Compression: pack.CompressionZstd, Offset: 1, Length: 2, RawLength: 3}
	h := pack.BlobHandle{Type: pack.TreeBlob}
	h.ID[0] = 7
	want := pack.Entry{BlobHandle: h, Compression: pack.CompressionZstd, Offset: 1, Length: 2, RawLength: 3}
	if got := l.Entry(h); got != want {
		t.Fatalf("Entry = %+v, want %+v", got, want)
	}
}

func FuzzIndexDecode(f *testing.F) {
	f.Add(EncodeFile(&File{}))
	f.Add(EncodeFile(makeFile(1, 1, 1, 1)))
	f.Add(EncodeFile(makeFile(2, 2, 3, 4)))
	f.Add([]byte("IVIX\x01\x00\x01"))
	f.Add([]byte("IVIX\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := DecodeFile(b)
		if err != nil {
			requireFormatError(t, err, "DecodeFile")
			return
		}
		if got := EncodeFile(file); !bytes.Equal(got, b) {
			t.Fatalf("round trip differs:\n in  %x\n out %x", b, got)
		}
	})
}

func BenchmarkDecodeFile(b *testing.B) {
	data := EncodeFile(makeFile(3, 0, 100, 1000))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeFile(data); err != nil {
			b.Fatal(err)
		}
	}
}
