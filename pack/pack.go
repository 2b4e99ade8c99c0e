// Package pack reads and writes pack files: concatenated encrypted blobs
// followed by an encrypted header listing them, and a 4-byte header length.
//
//	pack   = blob_1 ‖ … ‖ blob_n ‖ sealedHeader ‖ uint32le(len(sealedHeader))
//	blob_i = nonce(24) ‖ XChaCha20-Poly1305(payload_i, AD=BlobAD(handle_i, compression_i)) ‖ tag(16)
//
// See docs/FORMAT.md for the byte-level specification. Bytes in, bytes out:
// this package does no I/O of its own beyond the io.Writer / io.ReaderAt given.
package pack

import (
	"crypto/cipher"
	"errors"
	"io"

	"github.com/immich-vault/immich-vault/crypto"
)

// ID is a blob or file identifier.
type ID = crypto.ID

// BlobType tells data blobs (file contents) from tree blobs (directory listings).
type BlobType uint8

const (
	DataBlob BlobType = 1
	TreeBlob BlobType = 2
)

// String returns "data" or "tree" (frozen: used in JSON and messages).
func (t BlobType) String() string { panic("TODO") }

// Compression of a blob's payload before encryption.
type Compression uint8

const (
	CompressionNone Compression = 0
	CompressionZstd Compression = 1
)

// BlobHandle names a blob: its keyed ID and its type.
type BlobHandle struct {
	ID   ID
	Type BlobType
}

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

func (e *FormatError) Error() string        { panic("TODO") }
func (e *FormatError) Unwrap() error        { return e.Err }
func (e *FormatError) Is(target error) bool { return target == ErrCorrupt }

// BlobAD returns the associated data binding a sealed blob to its ID, type
// and compression.
func BlobAD(h BlobHandle, c Compression) []byte { panic("TODO") }

// SealBlob appends the sealed form of payload (already compressed per c) to dst.
func SealBlob(a cipher.AEAD, dst []byte, h BlobHandle, c Compression, payload []byte) []byte {
	panic("TODO")
}

// OpenBlob authenticates and decrypts a sealed blob described by e, appending
// the payload (still compressed per e.Compression) to dst. Errors are *FormatError.
func OpenBlob(a cipher.AEAD, dst []byte, e Entry, sealed []byte) ([]byte, error) { panic("TODO") }

// Writer assembles one pack. Not safe for concurrent use.
type Writer struct{}

// NewWriter writes a pack to w, sealing its header with a.
func NewWriter(w io.Writer, a cipher.AEAD) *Writer { panic("TODO") }

// Add appends an already sealed blob. rawLen is the plaintext length.
// After any write error every later call returns ErrBroken.
func (w *Writer) Add(h BlobHandle, c Compression, sealed []byte, rawLen int) error { panic("TODO") }

// Size returns the bytes written so far (blobs only, before Finalize).
func (w *Writer) Size() int64 { panic("TODO") }

// Count returns the number of blobs added.
func (w *Writer) Count() int { panic("TODO") }

// Finalize writes the sealed header and its length, verifies that the header
// decodes back to the same entries, and returns the entries.
func (w *Writer) Finalize() ([]Entry, error) { panic("TODO") }

// EncodeHeader returns the plaintext header for entries (before sealing).
func EncodeHeader(entries []Entry) []byte { panic("TODO") }

// DecodeHeader parses a plaintext header. packSize, when > 0, bounds offsets.
// Errors are *FormatError; it never panics.
func DecodeHeader(b []byte, packSize int64) ([]Entry, error) { panic("TODO") }

// ReadHeader reads, authenticates and decodes the header of a pack of the
// given size. Errors are *FormatError (or the ReaderAt's I/O error, wrapped).
func ReadHeader(a cipher.AEAD, r io.ReaderAt, size int64) ([]Entry, error) { panic("TODO") }
