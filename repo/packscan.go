package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// packTrailerName reads a pack's trailer (sealed header and its 4-byte
// length) and returns the name the pack should have (pack.Name). It reads
// at most MaxPackTrailer bytes, whatever the length field says; a length
// field that cannot be right gives a *pack.FormatError.
func (r *Repository) packTrailerName(ctx context.Context, id ID, size int64) (ID, error) {
	ra := &packReaderAt{ctx: ctx, be: r.be, h: backend.Handle{Type: backend.PackFile, Name: id.String()}}
	if size < 4 {
		return ID{}, &pack.FormatError{What: "pack shorter than its header length field", Err: pack.ErrCorrupt}
	}
	var l [4]byte
	if _, err := ra.ReadAt(l[:], size-4); err != nil {
		return ID{}, fmt.Errorf("read pack %s trailer: %w", id.Short(), err)
	}
	n := int64(binary.LittleEndian.Uint32(l[:]))
	if n > size-4 || n+4 > MaxPackTrailer {
		return ID{}, &pack.FormatError{What: fmt.Sprintf("header length %d impossible for a pack of %d bytes", n, size), Off: size - 4, Err: pack.ErrCorrupt}
	}
	tr := make([]byte, n+4)
	if _, err := ra.ReadAt(tr, size-4-n); err != nil {
		return ID{}, fmt.Errorf("read pack %s trailer: %w", id.Short(), err)
	}
	return pack.NameFromTrailer(tr), nil
}

// blobCheck is the outcome of verifying one sealed blob in a pack.
type blobCheck struct {
	Entry  pack.Entry
	Sealed []byte // valid only during the callback
	Err    error  // nil: decrypts, authenticates and hashes to its ID
}

// verifyPackBlobs reads the blobs entries name from pack id (of the given
// size) in one sequential pass and calls fn for each entry, in offset
// order, with the verification's result. Memory is one blob (at most
// pack.MaxBlobSize), never the pack: a pack of any size, hostile or
// damaged, is read in bounded memory. Entries that overlap an earlier one
// or end beyond the pack fail with ErrCorrupt. Errors of the backend (the
// pack could not be read) are returned; fn's error stops the pass.
func (r *Repository) verifyPackBlobs(ctx context.Context, id ID, size int64, entries []pack.Entry, fn func(blobCheck) error) error {
	es := append([]pack.Entry(nil), entries...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].Offset < es[j].Offset })
	var end int64
	var inRange []pack.Entry
	for _, e := range es {
		if e.Length > pack.MaxBlobSize {
			if err := fn(blobCheck{Entry: e, Err: fmt.Errorf("blob length %d above the maximum: %w", e.Length, ErrCorrupt)}); err != nil {
				return err
			}
			continue
		}
		if int64(e.Offset)+int64(e.Length) > size {
			if err := fn(blobCheck{Entry: e, Err: fmt.Errorf("blob %s beyond the end of the pack: %w", e.ID.Short(), ErrCorrupt)}); err != nil {
				return err
			}
			continue
		}
		inRange = append(inRange, e)
		end = max(end, int64(e.Offset)+int64(e.Length))
	}
	if len(inRange) == 0 {
		return nil
	}
	start := int64(inRange[0].Offset)
	if end-start > math.MaxInt32 {
		// Too long a range for Load's int length on 32-bit platforms:
		// one range read per blob instead.
		for _, e := range inRange {
			if err := fn(r.verifyBlobAt(ctx, id, e)); err != nil {
				return err
			}
		}
		return nil
	}
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	var buf, plain []byte
	return r.be.Load(ctx, h, int(end-start), start, func(rd io.Reader) error {
		// Load may call this again (retries): start over.
		pos := start
		for _, e := range inRange {
			off := int64(e.Offset)
			if off < pos {
				// Overlaps the previous blob (a hostile or damaged
				// index entry): verify it on its own.
				if err := fn(r.verifyBlobAt(ctx, id, e)); err != nil {
					return err
				}
				continue
			}
			if _, err := io.CopyN(io.Discard, rd, off-pos); err != nil {
				return fmt.Errorf("read pack %s: %w", id.Short(), err)
			}
			if cap(buf) < int(e.Length) {
				buf = make([]byte, e.Length)
			}
			b := buf[:e.Length]
			if _, err := io.ReadFull(rd, b); err != nil {
				return fmt.Errorf("read pack %s: %w", id.Short(), err)
			}
			pos = off + int64(e.Length)
			var err error
			plain, err = r.DecodeBlob(e, id, b, plain[:0])
			if ferr := fn(blobCheck{Entry: e, Sealed: b, Err: err}); ferr != nil {
				return ferr
			}
		}
		return nil
	})
}

// verifyBlobAt reads and verifies one blob at its recorded place.
func (r *Repository) verifyBlobAt(ctx context.Context, id ID, e pack.Entry) blobCheck {
	sealed := make([]byte, e.Length)
	err := r.be.Load(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, int(e.Length), int64(e.Offset),
		func(rd io.Reader) error {
			_, err := io.ReadFull(rd, sealed)
			return err
		})
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("blob %s beyond the end of the pack: %w", e.ID.Short(), ErrCorrupt)
		}
		return blobCheck{Entry: e, Err: err}
	}
	_, err = r.DecodeBlob(e, id, sealed, nil)
	return blobCheck{Entry: e, Sealed: sealed, Err: err}
}

// isCorrupt reports whether err says the data is damaged (as opposed to
// a failure to read it).
func isCorrupt(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, pack.ErrCorrupt) || errors.Is(err, crypto.ErrAuth)
}

// packEnd returns the end of the last of entries: the size a pack holding
// them has at least (verifyPackBlobs then reads exactly that range).
func packEnd(entries []pack.Entry) int64 {
	var end int64
	for _, e := range entries {
		end = max(end, int64(e.Offset)+int64(e.Length))
	}
	return end
}
