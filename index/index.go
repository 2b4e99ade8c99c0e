// Package index maps blobs to their location in packs.
//
// Two things live here: the codec of the repository's index files (the
// authoritative record, encrypted and stored by package repo), and Cache, a
// Badger database under the user's cache directory holding the merged index
// of all index files plus small key/value metadata (e.g. the backup file
// cache). The cache can be deleted at any time; it is rebuilt from the
// repository. Heap (anonymous) memory does not grow with the number of
// blobs; Badger also memory-maps its table files, and those file-backed pages
// (reclaimable page cache, but counted in RSS) do grow with the data touched:
// see index/internal/rsscheck for measurements.
//
// Third, for the maintenance commands (check, prune, repair, stats), Table
// and its helpers Sorter and HandleSet: the index as the repository's index
// files state it (every pack holding a blob, the index files naming each
// pack), streamed once into sorted arrays of fixed-size records on disk,
// and sets of blobs (those snapshots use) on disk too. Their memory does
// not grow with the repository; questions about every blob are merge
// joins of sorted streams, not lookups in Go maps. See Table for the
// design and why neither Go maps, nor the Badger cache, nor mmap.
//
// # Index file format (plaintext, frozen version 1)
//
//	file    = "IVIX" ‖ version u8 (=1)
//	          ‖ uvarint nSupersedes ‖ nSupersedes × id[32]
//	          ‖ uvarint nPacks ‖ nPacks × pack
//	pack    = packID[32] ‖ uvarint nEntries ‖ nEntries × entry
//	entry   = type u8 ‖ compression u8 ‖ uvarint offset ‖ uvarint length
//	          ‖ uvarint rawLength ‖ id[32]
//
// uvarints are encoding/binary's (LEB128), minimally encoded; a decoder
// rejects non-minimal encodings, trailing bytes, offsets or lengths >= 2^32,
// lengths above pack.MaxBlobSize and entries that pack.ValidateEntry
// rejects. Entries of one pack need not be sorted or contiguous (an index
// may list only the live blobs of a pack). The repository encrypts (and
// may compress) this plaintext; this package only sees plaintext.
package index

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	"github.com/immich-vault/immich-vault/pack"
)

// ID is a blob, pack or index-file identifier.
type ID = pack.ID

// Location is where a blob is stored.
type Location struct {
	Pack        ID
	Compression pack.Compression
	Offset      uint32
	Length      uint32
	RawLength   uint32
}

// Entry returns the pack.Entry for handle h at this location.
func (l Location) Entry(h pack.BlobHandle) pack.Entry {
	return pack.Entry{
		BlobHandle:  h,
		Compression: l.Compression,
		Offset:      l.Offset,
		Length:      l.Length,
		RawLength:   l.RawLength,
	}
}

// PackBlobs lists the blobs of one pack.
type PackBlobs struct {
	Pack    ID
	Entries []pack.Entry
}

// File is the decoded plaintext of one repository index file.
type File struct {
	// Supersedes names index files whose content this file includes; once
	// this file is stored they may be deleted (used by prune / repair).
	Supersedes []ID
	Packs      []PackBlobs
}

// ErrCorrupt marks a malformed index file (errors are *pack.FormatError).
var ErrCorrupt = pack.ErrCorrupt

// ErrNotFound is returned by lookups of unknown blobs where a bool is not used.
var ErrNotFound = errors.New("index: not found")

const (
	fileMagic = "IVIX"
	// FileVersion is the only index file version this code reads and writes.
	FileVersion = 1
	idSize      = len(ID{})
	// minEncodedEntry is the smallest encoded entry: type, compression,
	// three one-byte uvarints and the ID.
	minEncodedEntry = 1 + 1 + 1 + 1 + 1 + idSize
	// minEncodedPack is the smallest encoded pack: its ID and a one-byte count.
	minEncodedPack = idSize + 1
)

// EncodeFile returns the plaintext encoding of f (the repository seals it).
// It panics if an entry's fields do not fit the format (programmer misuse:
// entries come from pack.Writer or a decoded index, which guarantee it).
func EncodeFile(f *File) []byte {
	n := len(fileMagic) + 1 + binary.MaxVarintLen64*2 + len(f.Supersedes)*idSize
	for _, p := range f.Packs {
		n += idSize + binary.MaxVarintLen64 + len(p.Entries)*(minEncodedEntry+6)
	}
	b := make([]byte, 0, n)
	b = append(b, fileMagic...)
	b = append(b, FileVersion)
	b = binary.AppendUvarint(b, uint64(len(f.Supersedes)))
	for _, id := range f.Supersedes {
		b = append(b, id[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Packs)))
	for _, p := range f.Packs {
		b = append(b, p.Pack[:]...)
		b = binary.AppendUvarint(b, uint64(len(p.Entries)))
		for _, e := range p.Entries {
			if err := pack.ValidateEntry(e, 0); err != nil {
				panic("index: EncodeFile: invalid entry: " + err.Error())
			}
			b = append(b, byte(e.Type), byte(e.Compression))
			b = binary.AppendUvarint(b, uint64(e.Offset))
			b = binary.AppendUvarint(b, uint64(e.Length))
			b = binary.AppendUvarint(b, uint64(e.RawLength))
			b = append(b, e.ID[:]...)
		}
	}
	return b
}

// decoder reads b front to back; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = &pack.FormatError{What: "index file: " + what, Off: int64(d.off)}
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 1 {
		d.fail("truncated " + what)
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) id(what string) (id ID) {
	if d.err != nil {
		return id
	}
	if d.remaining() < idSize {
		d.fail("truncated " + what)
		return id
	}
	copy(id[:], d.b[d.off:])
	d.off += idSize
	return id
}

// uvarint reads a minimally encoded uvarint no larger than max.
func (d *decoder) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad uvarint " + what)
		return 0
	}
	if n != uvarintLen(v) {
		d.fail("non-minimal uvarint " + what)
		return 0
	}
	if v > max {
		d.fail(what + " out of range")
		return 0
	}
	d.off += n
	return v
}

// count reads an element count and checks that count elements of at least
// minSize bytes fit in the rest of the input, so a hostile count cannot
// cause a large allocation.
func (d *decoder) count(what string, minSize int) int {
	n := d.uvarint(what, math.MaxInt32)
	if d.err != nil {
		return 0
	}
	if n > uint64(d.remaining()/minSize) {
		d.fail(what + " exceeds the remaining bytes")
		return 0
	}
	return int(n)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// DecodeFile parses the plaintext of an index file. Never panics; errors are
// *pack.FormatError with Off relative to the start of b. The result does not
// alias b.
func DecodeFile(b []byte) (*File, error) {
	d := &decoder{b: b}
	if len(b) < len(fileMagic)+1 {
		d.fail("too short")
		return nil, d.err
	}
	if string(b[:len(fileMagic)]) != fileMagic {
		d.fail("bad magic")
		return nil, d.err
	}
	d.off = len(fileMagic)
	if v := d.byte1("version"); v != FileVersion {
		d.off--
		d.err = &pack.FormatError{What: "unsupported index file version " + strconv.Itoa(int(v)), Off: int64(d.off)}
		return nil, d.err
	}
	f := &File{}
	if n := d.count("supersedes count", idSize); n > 0 {
		f.Supersedes = make([]ID, n)
		for i := range f.Supersedes {
			f.Supersedes[i] = d.id("superseded id")
		}
	}
	if n := d.count("pack count", minEncodedPack); n > 0 {
		f.Packs = make([]PackBlobs, n)
		for i := range f.Packs {
			p := &f.Packs[i]
			p.Pack = d.id("pack id")
			ne := d.count("entry count", minEncodedEntry)
			if d.err != nil {
				return nil, d.err
			}
			p.Entries = make([]pack.Entry, ne)
			for j := range p.Entries {
				start := d.off
				var e pack.Entry
				e.Type = pack.BlobType(d.byte1("blob type"))
				e.Compression = pack.Compression(d.byte1("compression"))
				e.Offset = uint32(d.uvarint("offset", math.MaxUint32))
				e.Length = uint32(d.uvarint("length", pack.MaxBlobSize))
				e.RawLength = uint32(d.uvarint("raw length", pack.MaxBlobSize))
				e.ID = d.id("blob id")
				if d.err != nil {
					return nil, d.err
				}
				if err := pack.ValidateEntry(e, int64(start)); err != nil {
					var fe *pack.FormatError
					if errors.As(err, &fe) {
						fe.What = "index file: " + fe.What
					}
					return nil, err
				}
				p.Entries[j] = e
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.remaining() != 0 {
		d.fail("trailing bytes")
		return nil, d.err
	}
	return f, nil
}
