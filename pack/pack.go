// Package pack reads and writes pack files: concatenated encrypted blobs
// followed by an encrypted header listing them, and a 4-byte header length.
//
//	pack   = blob_1 ‖ … ‖ blob_n ‖ sealedHeader ‖ uint32le(len(sealedHeader))
//	blob_i = nonce(24) ‖ AEAD(payload_i, AD=BlobAD(handle_i, compression_i)) ‖ tag(16)
//
// AEAD is the repository's cipher, XChaCha20-Poly1305 or XAES-256-GCM
// (docs/FORMAT.md §7.4): both take a 24-byte nonce and add a 16-byte tag,
// so every size below is the same whichever seals the pack.
//
// See docs/FORMAT.md for the byte-level specification. Bytes in, bytes out:
// this package does no I/O of its own beyond the io.Writer / io.ReaderAt given.
//
// # Format (frozen, version 1)
//
//	BlobAD       = "ivb1" ‖ type u8 ‖ compression u8 ‖ id[32]                  (38 bytes)
//	header       = "IVPH" ‖ version u8 (=1) ‖ count u32le ‖ count × entry     (9 + 46·count bytes)
//	entry        = type u8 ‖ compression u8 ‖ offset u32le ‖ length u32le ‖ rawLength u32le ‖ id[32]
//	sealedHeader = nonce(24) ‖ AEAD(header, AD="ivph1") ‖ tag(16)
//
// Blobs are stored contiguously from offset 0 in the order of the header
// entries; the sealed header follows the last blob immediately. A pack with
// zero blobs is valid (header count 0): readers accept it, and Writer may
// produce it, so that tools never have to special-case it.
//
// # Concurrency
//
// Writer is not safe for concurrent use. The free functions are safe for
// concurrent use as long as the cipher.AEAD is (both repository ciphers are).
package pack

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/immich-vault/immich-vault/crypto"
)

// ID is a blob or file identifier.
type ID = crypto.ID

// BlobType tells data blobs (file contents) from tree blobs (directory listings).
type BlobType uint8

// Blob type codes (frozen, format v1).
const (
	DataBlob BlobType = 1
	TreeBlob BlobType = 2
)

// String returns "data" or "tree" (frozen: used in JSON and messages).
func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	default:
		return fmt.Sprintf("unknown(%d)", uint8(t))
	}
}

// Valid reports whether t is a known blob type.
func (t BlobType) Valid() bool { return t == DataBlob || t == TreeBlob }

// Compression of a blob's payload before encryption.
type Compression uint8

// Compression codes (frozen, format v1).
const (
	CompressionNone Compression = 0
	CompressionZstd Compression = 1
)

// Valid reports whether c is a known compression code.
func (c Compression) Valid() bool { return c == CompressionNone || c == CompressionZstd }

// String returns "none" or "zstd".
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionZstd:
		return "zstd"
	default:
		return fmt.Sprintf("unknown(%d)", uint8(c))
	}
}

// BlobHandle names a blob: its keyed ID and its type.
type BlobHandle struct {
	ID   ID
	Type BlobType
}

// String returns "type/shortid".
func (h BlobHandle) String() string { return h.Type.String() + "/" + shortHex(h.ID) }

// Entry locates one blob inside a pack.
type Entry struct {
	BlobHandle
	Compression Compression
	Offset      uint32 // of the sealed blob from the start of the pack
	Length      uint32 // of the sealed blob (payload + crypto.Overhead)
	RawLength   uint32 // of the plaintext after decompression
}

// MaxBlobSize bounds RawLength and Length (hostile headers are rejected above it).
const MaxBlobSize = 64 << 20

// Blob associated data: "ivb1" ‖ type u8 ‖ compression u8 ‖ id[32].
const (
	blobADMagic = "ivb1"
	// BlobADSize is the length of BlobAD's result.
	BlobADSize = len(blobADMagic) + 1 + 1 + crypto.IDSize // 38
)

// Header layout (plaintext, before sealing):
//
//	off 0  magic    "IVPH"
//	off 4  version  u8 (HeaderVersion)
//	off 5  count    u32le
//	off 9  count × entry (EntrySize bytes each):
//	       +0  type        u8
//	       +1  compression u8
//	       +2  offset      u32le
//	       +6  length      u32le
//	       +10 rawLength   u32le
//	       +14 id          [32]
const (
	headerMagic = "IVPH"
	// HeaderVersion is the only pack header version this code reads and writes.
	HeaderVersion = 1
	// HeaderFixedSize is the size of the header before the entries.
	HeaderFixedSize = len(headerMagic) + 1 + 4 // 9
	// EntrySize is the size of one encoded header entry.
	EntrySize = 1 + 1 + 4 + 4 + 4 + crypto.IDSize // 46
	// MaxHeaderSize bounds the plaintext header (and so what a hostile
	// length field can make a reader allocate).
	MaxHeaderSize = 16 << 20
	// MaxEntries is the largest number of blobs one pack may hold.
	MaxEntries = (MaxHeaderSize - HeaderFixedSize) / EntrySize
	// headerAD is the associated data of the sealed header.
	headerAD = "ivph1"
	// trailerSize is the u32le length of the sealed header at the very end.
	trailerSize = 4
	// minSealedHeader is the sealed size of an empty header.
	minSealedHeader = int64(HeaderFixedSize + crypto.Overhead)
	// maxSealedHeader is the sealed size of the largest allowed header.
	maxSealedHeader = int64(HeaderFixedSize + MaxEntries*EntrySize + crypto.Overhead)
	// MaxTrailer is the largest trailer (sealed header and its 4-byte
	// length) a reader accepts: what a reader of a pack's header reads at
	// most, whatever the length field says.
	MaxTrailer = maxSealedHeader + trailerSize
)

// ErrCorrupt marks every format/integrity error from this package; test with errors.Is.
var ErrCorrupt = errors.New("pack: corrupt")

// ErrBroken is returned by a Writer after an earlier write error.
var ErrBroken = errors.New("pack: writer broken by earlier error")

// FormatError describes a malformed or unauthenticated pack. Is(ErrCorrupt) is true.
type FormatError struct {
	What string
	Off  int64
	Err  error
}

func (e *FormatError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("pack: corrupt: %s at offset %d: %v", e.What, e.Off, e.Err)
	}
	return fmt.Sprintf("pack: corrupt: %s at offset %d", e.What, e.Off)
}
func (e *FormatError) Unwrap() error        { return e.Err }
func (e *FormatError) Is(target error) bool { return target == ErrCorrupt }

func formatErr(off int64, err error, format string, args ...any) *FormatError {
	return &FormatError{What: fmt.Sprintf(format, args...), Off: off, Err: err}
}

// BlobAD returns the associated data binding a sealed blob to its ID, type
// and compression. The result is a fresh 38-byte slice.
func BlobAD(h BlobHandle, c Compression) []byte {
	ad := make([]byte, 0, BlobADSize)
	return appendBlobAD(ad, h, c)
}

func appendBlobAD(dst []byte, h BlobHandle, c Compression) []byte {
	dst = append(dst, blobADMagic...)
	dst = append(dst, byte(h.Type), byte(c))
	return append(dst, h.ID[:]...)
}

// SealBlob appends the sealed form of payload (already compressed per c) to dst.
// dst and payload must not overlap.
func SealBlob(a cipher.AEAD, dst []byte, h BlobHandle, c Compression, payload []byte) []byte {
	var ad [BlobADSize]byte
	return seal(a, dst, payload, appendBlobAD(ad[:0], h, c))
}

// OpenBlob authenticates and decrypts a sealed blob described by e, appending
// the payload (still compressed per e.Compression) to dst. Errors are *FormatError.
func OpenBlob(a cipher.AEAD, dst []byte, e Entry, sealed []byte) ([]byte, error) {
	if uint64(len(sealed)) != uint64(e.Length) {
		return dst, formatErr(int64(e.Offset), nil, "blob %v: sealed length %d, index says %d", e.BlobHandle, len(sealed), e.Length)
	}
	var ad [BlobADSize]byte
	out, err := open(a, dst, sealed, appendBlobAD(ad[:0], e.BlobHandle, e.Compression))
	if err != nil {
		return dst, formatErr(int64(e.Offset), err, "blob %v", e.BlobHandle)
	}
	return out, nil
}

// Writer assembles one pack. Not safe for concurrent use.
type Writer struct {
	w         io.Writer
	a         cipher.AEAD
	entries   []Entry
	size      uint64
	err       error // sticky write error
	finalized bool
}

// NewWriter writes a pack to w, sealing its header with a.
func NewWriter(w io.Writer, a cipher.AEAD) *Writer {
	if w == nil || a == nil {
		panic("pack: NewWriter with nil writer or AEAD")
	}
	return &Writer{w: w, a: a}
}

var errFinalized = fmt.Errorf("pack: writer already finalized: %w", ErrBroken)

// brokenBy is the error of a call on a Writer broken by err: it reads as
// err and matches both ErrBroken and err (errors.Is, errors.As).
type brokenBy struct{ err error }

func (b brokenBy) Error() string   { return b.err.Error() }
func (b brokenBy) Unwrap() []error { return []error{ErrBroken, b.err} }

// Add appends an already sealed blob (the output of SealBlob for h and c).
// rawLen is the plaintext length. Invalid arguments (unknown type or
// compression, sizes out of bounds, pack full) return an error and leave
// the Writer usable. After any write error every later call returns
// ErrBroken. Add does not retain sealed.
func (w *Writer) Add(h BlobHandle, c Compression, sealed []byte, rawLen int) error {
	if w.finalized {
		return errFinalized
	}
	if w.err != nil {
		// The first error says what happened (e.g. "no space left on
		// device"): keep it in the chain, not only ErrBroken.
		return fmt.Errorf("pack: add %v: writer broken by earlier error: %w", h, brokenBy{w.err})
	}
	switch {
	case !h.Type.Valid():
		return fmt.Errorf("pack: add %v: unknown blob type %d", h, h.Type)
	case !c.Valid():
		return fmt.Errorf("pack: add %v: unknown compression %d", h, c)
	case len(sealed) < crypto.Overhead || len(sealed) > MaxBlobSize:
		return fmt.Errorf("pack: add %v: sealed length %d out of range [%d, %d]", h, len(sealed), crypto.Overhead, MaxBlobSize)
	case rawLen < 0 || rawLen > MaxBlobSize:
		return fmt.Errorf("pack: add %v: raw length %d out of range", h, rawLen)
	case len(w.entries) >= MaxEntries:
		return fmt.Errorf("pack: add %v: pack full (%d blobs)", h, len(w.entries))
	case w.size+uint64(len(sealed)) > math.MaxUint32:
		return fmt.Errorf("pack: add %v: pack would exceed 4 GiB", h)
	}
	n, err := w.w.Write(sealed)
	w.size += uint64(n)
	if err == nil && n != len(sealed) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
		return fmt.Errorf("pack: add %v: %w", h, err)
	}
	w.entries = append(w.entries, Entry{
		BlobHandle:  h,
		Compression: c,
		Offset:      uint32(w.size) - uint32(len(sealed)),
		Length:      uint32(len(sealed)),
		RawLength:   uint32(rawLen),
	})
	return nil
}

// Size returns the bytes written so far (blobs only, before Finalize).
func (w *Writer) Size() int64 { return int64(w.size) }

// Count returns the number of blobs added.
func (w *Writer) Count() int { return len(w.entries) }

// Finalize writes the sealed header and its length, verifies that the header
// decodes back to the same entries, and returns the entries. The sealed
// header is verified (opened and decoded again) before it is written. The
// returned slice is owned by the caller. Finalize may be called once.
func (w *Writer) Finalize() ([]Entry, error) {
	if w.finalized {
		return nil, errFinalized
	}
	if w.err != nil {
		return nil, fmt.Errorf("pack: finalize: writer broken by earlier error: %w", brokenBy{w.err})
	}
	w.finalized = true
	hdr := EncodeHeader(w.entries)
	buf := seal(w.a, make([]byte, 0, len(hdr)+crypto.Overhead+trailerSize), hdr, []byte(headerAD))
	sealedLen := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(sealedLen))

	// Verify after write (restic habit): what we are about to store must read back.
	plain, err := open(w.a, nil, buf[:sealedLen], []byte(headerAD))
	if err != nil {
		w.err = err
		return nil, fmt.Errorf("pack: finalize: verify sealed header: %w", err)
	}
	got, err := DecodeHeader(plain, int64(w.size)+int64(len(buf)))
	if err != nil {
		w.err = err
		return nil, fmt.Errorf("pack: finalize: verify header: %w", err)
	}
	if len(got) != len(w.entries) {
		w.err = errors.New("entry count mismatch")
		return nil, fmt.Errorf("pack: finalize: verify header: %d entries, want %d", len(got), len(w.entries))
	}
	for i := range got {
		if got[i] != w.entries[i] {
			w.err = errors.New("entry mismatch")
			return nil, fmt.Errorf("pack: finalize: verify header: entry %d differs", i)
		}
	}

	n, err := w.w.Write(buf)
	w.size += uint64(n)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
		return nil, fmt.Errorf("pack: finalize: write header: %w", err)
	}
	return got, nil
}

// EncodeHeader returns the plaintext header for entries (before sealing).
// It panics if len(entries) > MaxEntries (programmer misuse).
func EncodeHeader(entries []Entry) []byte {
	if len(entries) > MaxEntries {
		panic("pack: EncodeHeader: too many entries")
	}
	b := make([]byte, 0, HeaderFixedSize+len(entries)*EntrySize)
	b = append(b, headerMagic...)
	b = append(b, HeaderVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	for i := range entries {
		e := &entries[i]
		b = append(b, byte(e.Type), byte(e.Compression))
		b = binary.LittleEndian.AppendUint32(b, e.Offset)
		b = binary.LittleEndian.AppendUint32(b, e.Length)
		b = binary.LittleEndian.AppendUint32(b, e.RawLength)
		b = append(b, e.ID[:]...)
	}
	return b
}

// ValidateEntry checks the fields of one entry that do not depend on its
// neighbours: known type and compression, Overhead <= Length <= MaxBlobSize,
// RawLength <= MaxBlobSize and Offset+Length < 2^32. off is reported in the error.
func ValidateEntry(e Entry, off int64) error {
	switch {
	case !e.Type.Valid():
		return formatErr(off, nil, "unknown blob type %d", uint8(e.Type))
	case !e.Compression.Valid():
		return formatErr(off+1, nil, "unknown compression %d", uint8(e.Compression))
	case e.Length < crypto.Overhead:
		return formatErr(off+6, nil, "blob length %d below minimum %d", e.Length, crypto.Overhead)
	case e.Length > MaxBlobSize:
		return formatErr(off+6, nil, "blob length %d above maximum %d", e.Length, MaxBlobSize)
	case e.RawLength > MaxBlobSize:
		return formatErr(off+10, nil, "raw length %d above maximum %d", e.RawLength, MaxBlobSize)
	case uint64(e.Offset)+uint64(e.Length) > math.MaxUint32:
		return formatErr(off+2, nil, "blob end %d beyond 4 GiB", uint64(e.Offset)+uint64(e.Length))
	}
	return nil
}

// DecodeHeader parses a plaintext header. packSize, when > 0, is the size of
// the whole pack: the blobs must then fill the blob area exactly
// (packSize - 4 - sealed header size). Errors are *FormatError with Off
// relative to the start of b; it never panics.
func DecodeHeader(b []byte, packSize int64) ([]Entry, error) {
	if len(b) < HeaderFixedSize {
		return nil, formatErr(0, nil, "header too short (%d bytes)", len(b))
	}
	if string(b[:len(headerMagic)]) != headerMagic {
		return nil, formatErr(0, nil, "bad header magic %q", b[:len(headerMagic)])
	}
	if v := b[4]; v != HeaderVersion {
		return nil, formatErr(4, nil, "unsupported pack header version %d", v)
	}
	count := uint64(binary.LittleEndian.Uint32(b[5:9]))
	if count > uint64(MaxEntries) {
		return nil, formatErr(5, nil, "header count %d above maximum %d", count, MaxEntries)
	}
	if want := uint64(HeaderFixedSize) + count*uint64(EntrySize); uint64(len(b)) != want {
		return nil, formatErr(5, nil, "header count %d needs %d bytes, have %d", count, want, len(b))
	}
	var blobArea int64 = -1
	if packSize > 0 {
		blobArea = packSize - trailerSize - int64(len(b)) - crypto.Overhead
		if blobArea < 0 {
			return nil, formatErr(0, nil, "header (%d bytes) larger than pack (%d bytes)", len(b), packSize)
		}
	}
	entries := make([]Entry, count)
	var next uint64 // where the next blob must start
	for i := range entries {
		off := HeaderFixedSize + i*EntrySize
		p := b[off : off+EntrySize]
		e := Entry{
			BlobHandle:  BlobHandle{Type: BlobType(p[0])},
			Compression: Compression(p[1]),
			Offset:      binary.LittleEndian.Uint32(p[2:6]),
			Length:      binary.LittleEndian.Uint32(p[6:10]),
			RawLength:   binary.LittleEndian.Uint32(p[10:14]),
		}
		copy(e.ID[:], p[14:])
		if err := ValidateEntry(e, int64(off)); err != nil {
			return nil, err
		}
		if uint64(e.Offset) != next {
			return nil, formatErr(int64(off+2), nil, "entry %d: offset %d, want %d (blobs must be contiguous)", i, e.Offset, next)
		}
		next += uint64(e.Length)
		if blobArea >= 0 && next > uint64(blobArea) {
			return nil, formatErr(int64(off+6), nil, "entry %d: blob end %d beyond blob area (%d bytes)", i, next, blobArea)
		}
		entries[i] = e
	}
	if blobArea >= 0 && next != uint64(blobArea) {
		return nil, formatErr(0, nil, "blobs end at %d but blob area is %d bytes", next, blobArea)
	}
	return entries, nil
}

// ReadHeader reads, authenticates and decodes the header of a pack of the
// given size. Errors are *FormatError (Off relative to the pack start) or the
// ReaderAt's I/O error, wrapped. It allocates at most MaxHeaderSize plus
// overhead, whatever the trailing length says.
func ReadHeader(a cipher.AEAD, r io.ReaderAt, size int64) ([]Entry, error) {
	if size < trailerSize+minSealedHeader {
		return nil, formatErr(0, nil, "pack too short (%d bytes)", size)
	}
	var tr [trailerSize]byte
	if err := readFull(r, tr[:], size-trailerSize); err != nil {
		return nil, fmt.Errorf("pack: read header length: %w", err)
	}
	hl := int64(binary.LittleEndian.Uint32(tr[:]))
	switch {
	case hl < minSealedHeader:
		return nil, formatErr(size-trailerSize, nil, "sealed header length %d below minimum %d", hl, minSealedHeader)
	case hl > maxSealedHeader:
		return nil, formatErr(size-trailerSize, nil, "sealed header length %d above maximum %d", hl, maxSealedHeader)
	case hl > size-trailerSize:
		return nil, formatErr(size-trailerSize, nil, "sealed header length %d exceeds pack size %d", hl, size)
	case (hl-minSealedHeader)%EntrySize != 0:
		return nil, formatErr(size-trailerSize, nil, "sealed header length %d is not a whole number of entries", hl)
	}
	start := size - trailerSize - hl
	buf := make([]byte, hl)
	if err := readFull(r, buf, start); err != nil {
		return nil, fmt.Errorf("pack: read header: %w", err)
	}
	plain, err := open(a, nil, buf, []byte(headerAD))
	if err != nil {
		return nil, formatErr(start, err, "header")
	}
	entries, err := DecodeHeader(plain, size)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			// Map the plaintext offset to the ciphertext byte it came from.
			fe.Off += start + crypto.NonceSize
		}
		return nil, err
	}
	return entries, nil
}

// readFull reads exactly len(p) bytes at off (io.ReaderAt may return io.EOF
// together with a full read).
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// shortHex returns the first 8 hex digits of id without depending on
// crypto.ID.String.
func shortHex(id ID) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 0; i < 4; i++ {
		b[2*i] = digits[id[i]>>4]
		b[2*i+1] = digits[id[i]&0x0f]
	}
	return string(b[:])
}

// Name returns the name of a pack file: the BLAKE3-256 of its trailer, the
// sealed header and its 4-byte length (docs/FORMAT.md §5.5). The trailer
// authenticates every entry, every blob is authenticated against its entry,
// and the random header nonce makes names unique, so hashing the trailer
// identifies the whole pack without hashing megabytes of ciphertext.
// It returns a *FormatError if b is too short to hold a trailer.
func Name(b []byte) (ID, error) {
	if len(b) < 4 {
		return ID{}, &FormatError{What: "pack shorter than its header length field", Off: 0, Err: ErrCorrupt}
	}
	n := int64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if n > int64(len(b))-4 {
		return ID{}, &FormatError{What: "header length exceeds the pack", Off: int64(len(b)) - 4, Err: ErrCorrupt}
	}
	return crypto.Hash(b[int64(len(b))-4-n:]), nil
}

// NameFromTrailer is Name for a caller that has only the trailer (the last
// headerLen+4 bytes of the pack).
func NameFromTrailer(trailer []byte) ID { return crypto.Hash(trailer) }
