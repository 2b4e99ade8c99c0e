package repo

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// BlobError reports a blob that could not be loaded or verified.
type BlobError struct {
	Handle pack.BlobHandle
	Pack   ID
	Err    error
}

func (e *BlobError) Error() string {
	return fmt.Sprintf("%s blob %s in pack %s: %v", e.Handle.Type, e.Handle.ID, e.Pack.Short(), e.Err)
}
func (e *BlobError) Unwrap() error { return e.Err }

// loadBlobAt fetches one sealed blob by range and decodes it.
func (r *Repository) loadBlobAt(ctx context.Context, h pack.BlobHandle, loc index.Location, buf []byte) ([]byte, error) {
	sealed := make([]byte, loc.Length)
	err := r.be.Load(ctx, backend.Handle{Type: backend.PackFile, Name: loc.Pack.String()}, int(loc.Length), int64(loc.Offset),
		func(rd io.Reader) error {
			_, err := io.ReadFull(rd, sealed)
			return err
		})
	if err != nil {
		return nil, &BlobError{Handle: h, Pack: loc.Pack, Err: err}
	}
	return r.DecodeBlob(loc.Entry(h), loc.Pack, sealed, buf)
}

// DecodeBlob authenticates, decompresses and verifies a sealed blob. The
// result is appended to buf[:0].
func (r *Repository) DecodeBlob(e pack.Entry, packID ID, sealed, buf []byte) ([]byte, error) {
	var plain []byte
	switch e.Compression {
	case pack.CompressionNone:
		// Authenticated and decrypted straight into buf: no
		// intermediate payload to allocate and copy.
		var err error
		if plain, err = pack.OpenBlob(r.key.AEAD(), buf[:0], e, sealed); err != nil {
			return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: err}
		}
	case pack.CompressionZstd:
		scratch := blobScratch.Get().(*[]byte)
		defer blobScratch.Put(scratch)
		payload, err := pack.OpenBlob(r.key.AEAD(), (*scratch)[:0], e, sealed)
		if err != nil {
			return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: err}
		}
		if cap(payload) <= maxScratch {
			*scratch = payload
		}
		plain, err = r.dec.DecodeAll(payload, buf[:0])
		if err != nil {
			return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: fmt.Errorf("decompress: %w: %w", err, ErrCorrupt)}
		}
	default:
		return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: fmt.Errorf("compression %d: %w", e.Compression, ErrCorrupt)}
	}
	return r.verifyBlob(e, packID, plain)
}

// DecodeBlobInPlace is DecodeBlob decrypting inside sealed: the
// ciphertext is authenticated and decrypted where it lies, so a blob that
// is not compressed is returned as a slice of sealed (no second buffer to
// allocate, fault in and fill); a compressed blob's payload is decrypted
// in place and decompressed into buf[:0]. sealed's contents are
// overwritten, also on error. The result is verified as by DecodeBlob.
func (r *Repository) DecodeBlobInPlace(e pack.Entry, packID ID, sealed, buf []byte) ([]byte, error) {
	if len(sealed) < crypto.NonceSize {
		// pack.OpenBlob reports the length mismatch or the short blob.
		return r.DecodeBlob(e, packID, sealed, buf)
	}
	payload, err := pack.OpenBlob(r.key.AEAD(), sealed[crypto.NonceSize:crypto.NonceSize], e, sealed)
	if err != nil {
		return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: err}
	}
	var plain []byte
	switch e.Compression {
	case pack.CompressionNone:
		plain = payload
	case pack.CompressionZstd:
		if plain, err = r.dec.DecodeAll(payload, buf[:0]); err != nil {
			return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: fmt.Errorf("decompress: %w: %w", err, ErrCorrupt)}
		}
	default:
		return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: fmt.Errorf("compression %d: %w", e.Compression, ErrCorrupt)}
	}
	return r.verifyBlob(e, packID, plain)
}

// verifyBlob checks a decoded blob's length and that it hashes to its ID.
func (r *Repository) verifyBlob(e pack.Entry, packID ID, plain []byte) ([]byte, error) {
	if len(plain) != int(e.RawLength) {
		return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: fmt.Errorf("length %d, index says %d: %w", len(plain), e.RawLength, ErrCorrupt)}
	}
	if got := r.key.BlobID(plain); got != e.ID {
		return nil, &BlobError{Handle: e.BlobHandle, Pack: packID, Err: fmt.Errorf("content hashes to %s: %w", got.Short(), ErrCorrupt)}
	}
	return plain, nil
}

// blobScratch holds buffers for compressed payloads between decryption and
// decompression (kept up to maxScratch).
var blobScratch = sync.Pool{New: func() any { return new([]byte) }}

const maxScratch = 8 << 20

// compressible decides whether a data blob is worth compressing
// (Compressible).
func (r *Repository) compressible(data []byte) bool { return Compressible(data) }

// Compressible decides whether a data blob is worth compressing. Media
// (JPEG, HEIC, MP4) is already compressed: an order-0 entropy estimate of a
// sample from the middle of the blob (≈ 7.95 bits/byte for such data, ≈ 5
// for SQL text) rejects it for a fraction of the cost of trying zstd.
// Exported for the benchmark's bound (bench/ceiling.CompressTree), which
// must skip what a backup skips.
func Compressible(data []byte) bool {
	const sample = 4 << 10
	if len(data) < 4<<10 {
		return true // too small to judge; cheap to try
	}
	s := data
	if len(s) > sample {
		mid := len(s)/2 - sample/2
		s = s[mid : mid+sample]
	}
	return entropy(s) < 7.5
}

// entropy returns the order-0 Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	var hist [256]int
	for _, c := range b {
		hist[c]++
	}
	n := float64(len(b))
	if len(b) < len(cLog2c) {
		// H = log2(n) - Σ c·log2(c) / n, with c·log2(c) from a table:
		// one log per call instead of one per distinct byte value.
		var s float64
		for _, c := range hist {
			s += cLog2c[c]
		}
		return math.Log2(n) - s/n
	}
	var e float64
	for _, c := range hist {
		if c > 0 {
			p := float64(c) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}

// cLog2c[c] = c·log2(c) for the byte counts of an entropy sample.
var cLog2c = func() (t [4<<10 + 1]float64) {
	for c := 2; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// compress returns the payload to seal and its compression. dst is scratch
// space that may be returned.
func (r *Repository) compress(t pack.BlobType, data, dst []byte) ([]byte, pack.Compression) {
	// Small blobs gain little and pay zstd's per-call cost: most trees
	// (one directory of an Immich thumbs/ or upload/ tree) are a few
	// hundred bytes.
	if len(data) < 64 || (t == pack.TreeBlob && len(data) < 1<<10) {
		return data, pack.CompressionNone
	}
	if t == pack.DataBlob && !r.compressible(data) {
		return data, pack.CompressionNone
	}
	out := r.enc.EncodeAll(data, dst[:0])
	if len(out) >= len(data)*97/100 {
		return data, pack.CompressionNone
	}
	return out, pack.CompressionZstd
}
