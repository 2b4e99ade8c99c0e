package repo

import (
	"context"
	"fmt"
	"io"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// Size limits of repository files (docs/FORMAT.md §11.5). A reader checks a
// file's size against its kind's maximum before reading it and reads
// through a limit in case the size it was told is wrong, so a hostile or
// damaged file (a sparse multi-GiB file planted in index/, say) costs at
// most the maximum in memory, and usually nothing: it is refused by size.
// Writers never produce larger files (saveHashed refuses).
const (
	// MaxMarkerFile bounds the plaintext marker file.
	MaxMarkerFile = 4 << 10
	// MaxKeyFile bounds a (plaintext, JSON) key file.
	MaxKeyFile = 64 << 10
	// MaxSealedPlaintext bounds the plaintext of every sealed file once
	// decompressed (the zstd decoder refuses to produce more).
	MaxSealedPlaintext = 256 << 20
	// sealedSlack is what sealing adds to a plaintext of
	// MaxSealedPlaintext bytes at most: the envelope byte, zstd's frame
	// and block headers for incompressible input (3 bytes per 128 KiB
	// block) and the AEAD's nonce and tag.
	sealedSlack = 64 << 10
	// MaxConfigFile bounds the sealed config.
	MaxConfigFile = 1 << 20
	// MaxIndexFile bounds a sealed index file.
	MaxIndexFile = MaxSealedPlaintext + sealedSlack
	// MaxSnapshotFile bounds a sealed snapshot file.
	MaxSnapshotFile = 64 << 20
	// MaxLockFile bounds a sealed lock file or pending deletion record.
	MaxLockFile = 64 << 20
	// MaxPackTrailer bounds what is read of a pack to find its header:
	// the largest sealed header and its 4-byte length.
	MaxPackTrailer = pack.MaxTrailer
	// MaxPackFile is the largest pack a reader accepts: blob offsets and
	// lengths are 32-bit (offset+length < 2^32), then the trailer. Packs
	// are never read whole: their blobs are read one at a time.
	MaxPackFile = 1<<32 + MaxPackTrailer
)

// maxFileSize returns the size limit of files of type t.
func maxFileSize(t backend.FileType) int64 {
	switch t {
	case backend.MarkerFile:
		return MaxMarkerFile
	case backend.KeyFile:
		return MaxKeyFile
	case backend.ConfigFile:
		return MaxConfigFile
	case backend.IndexFile:
		return MaxIndexFile
	case backend.SnapshotFile:
		return MaxSnapshotFile
	case backend.LockFile:
		return MaxLockFile
	default:
		return MaxPackFile
	}
}

// ErrTooLarge marks a file larger than its kind's maximum (it also
// matches ErrCorrupt: no writer produces such a file).
var ErrTooLarge = fmt.Errorf("file larger than the format allows: %w", ErrCorrupt)

// loadBounded reads the whole of the small file h: its size is checked
// against maxFileSize(h.Type) before reading (Stat), and the read stops
// one byte past the limit whatever the size said. Memory: the file's size,
// at most the limit.
func loadBounded(ctx context.Context, be backend.Backend, h backend.Handle) ([]byte, error) {
	limit := maxFileSize(h.Type)
	// The Stat and the Load are sent at the same time, and the Load's body
	// is not read before the Stat's answer: a file too large is still
	// refused unread, for one round trip instead of two (on S3 every file
	// of an open went through here one after another: issue 14).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fi backend.FileInfo
	var statErr error
	statDone := make(chan struct{})
	go func() {
		defer close(statDone)
		fi, statErr = be.Stat(ctx, h)
	}()
	var out []byte
	err := be.Load(ctx, h, 0, 0, func(rd io.Reader) error {
		select {
		case <-statDone:
		case <-ctx.Done():
			return ctx.Err()
		}
		if statErr != nil {
			return permanent{statErr} // the Stat had its own retries
		}
		if fi.Size > limit {
			return fmt.Errorf("%v: %d bytes, the limit is %d: %w", h, fi.Size, limit, ErrTooLarge)
		}
		// Called again on a retry: start over. The buffer has the size
		// Stat gave; a file longer than that (the size lied) grows it up
		// to the limit plus one byte, never further.
		lr := io.LimitReader(rd, limit+1)
		buf := make([]byte, max(fi.Size, 0))
		n, err := io.ReadFull(lr, buf)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			out = buf[:n] // shorter than Stat said
			return nil
		}
		if err != nil {
			return err
		}
		rest, err := io.ReadAll(lr)
		out = append(buf, rest...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%v: more than %d bytes: %w", h, limit, ErrTooLarge)
	}
	return out, nil
}

// permanent marks an error that a retry layer must not retry
// (repo/backend/retry honours interface{ Permanent() bool }).
type permanent struct{ err error }

func (p permanent) Error() string   { return p.err.Error() }
func (p permanent) Unwrap() error   { return p.err }
func (p permanent) Permanent() bool { return true }

// checkSealedSize refuses to store a sealed file that readers would refuse.
func checkSealedSize(t backend.FileType, sealed []byte) error {
	if limit := maxFileSize(t); int64(len(sealed)) > limit {
		return fmt.Errorf("%v file of %d bytes exceeds the format's limit of %d (docs/FORMAT.md §11.5)", t, len(sealed), limit)
	}
	return nil
}
