// Package chunker implements content-defined chunking: a FastCDC-style gear
// rolling hash with normalized chunking. The gear table is supplied by the
// caller (immich-vault derives it from the repository key, so boundaries do
// not fingerprint known files). It depends on nothing but io.
//
// # Format
//
// The algorithm is part of the repository format under the frozen name
// Algorithm ("fastcdc-gear-v1"); every detail below decides where chunks
// end, hence which blob IDs a repository contains, and must never change.
//
// A chunk is scanned byte by byte from its first byte, b[0], b[1], ...
// After byte b[o] (the chunk would then be L = o+1 bytes long) the
// fingerprint is
//
//	fp = (fp << 1) + gear[b[o]]     (uint64, wrapping; fp = 0 at chunk start)
//
// Because of the shift, fp depends only on the last 64 bytes: the
// contribution of a byte is shifted out 64 bytes later. With Avg = 2^k:
//
//	maskS = the k+2 most significant bits set  (bits 63 .. 62-k)
//	maskL = the k-2 most significant bits set  (bits 63 .. 66-k)
//
// The chunk ends after b[o] (length L = o+1) at the first L for which
//
//	Min <= L < Avg  and  fp & maskS == 0, or
//	Avg <= L < Max  and  fp & maskL == 0, or
//	L == Max                                (forced cut),
//
// and the next chunk starts at b[o+1] with fp = 0. No boundary is tested
// for L < Min. High bits are tested because bit i of fp depends on the
// last i+1 bytes only: the low bits would see a window of a few bytes.
// The last chunk of a stream ends at the end of the stream and may be
// shorter than Min.
//
// Since fp at L >= Min only depends on bytes Min-64 .. L-1 of the chunk,
// an implementation may skip hashing the first Min-64 bytes of each chunk
// (cut-point skipping); this one does, with identical results.
//
// Input without entropy is deterministic but not content-adaptive: a run of
// one byte value v gives the constant fp = -gear[v] (mod 2^64) once 64 bytes
// have been hashed, so an all-zero stream is cut into chunks that are all
// Min, all Avg or (most likely) all Max bytes long, depending only on the
// top bits of -gear[0].
//
// # Concurrency
//
// A Chunker or Reader is not safe for concurrent use; use one per goroutine
// (they are cheap: ~2.1 KiB plus the Reader's buffer).
package chunker

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Algorithm is the frozen on-disk name of the algorithm implemented here.
// NB: it must never change; a different algorithm gets a different name.
const Algorithm = "fastcdc-gear-v1"

// Bounds enforced by Params.Validate.
const (
	MinSize = 64       // smallest allowed Min (also the fingerprint window)
	MaxSize = 64 << 20 // largest allowed Max
)

// window is the number of bytes fp depends on (its width in bits).
const window = 64

// Params are persisted in the repository config and never change after init.
type Params struct {
	Min int `json:"min"` // no boundary before Min bytes
	Avg int `json:"avg"` // target average; a power of two
	Max int `json:"max"` // forced boundary at Max bytes
}

// ErrParams is returned for invalid parameters.
var ErrParams = errors.New("chunker: invalid parameters")

// Validate checks 64 <= Min < Avg < Max <= 64 MiB and Avg a power of two.
func (p Params) Validate() error {
	switch {
	case p.Min < MinSize:
		return fmt.Errorf("%w: min %d < %d", ErrParams, p.Min, MinSize)
	case p.Avg <= p.Min:
		return fmt.Errorf("%w: avg %d <= min %d", ErrParams, p.Avg, p.Min)
	case p.Max <= p.Avg:
		return fmt.Errorf("%w: max %d <= avg %d", ErrParams, p.Max, p.Avg)
	case p.Max > MaxSize:
		return fmt.Errorf("%w: max %d > %d", ErrParams, p.Max, MaxSize)
	case p.Avg&(p.Avg-1) != 0:
		return fmt.Errorf("%w: avg %d is not a power of two", ErrParams, p.Avg)
	}
	return nil
}

// Masks returns the two masks of normalized chunking for p (see the package
// documentation): maskS, used for chunk lengths in [Min, Avg), has the
// log2(Avg)+2 most significant bits set; maskL, for [Avg, Max), the
// log2(Avg)-2 most significant bits. p must be valid.
func (p Params) Masks() (maskS, maskL uint64) {
	k := bits.TrailingZeros64(uint64(p.Avg))
	return ^uint64(0) << (64 - (k + 2)), ^uint64(0) << (64 - (k - 2))
}

// Chunker finds chunk boundaries. Not safe for concurrent use.
type Chunker struct {
	gear         [256]uint64
	maskS, maskL uint64
	min, avg     int
	max, skip    int

	// State of the current chunk: n bytes seen, fingerprint fp.
	n  int
	fp uint64
}

// New returns a Chunker for p with the given gear table. The table is
// copied; the caller keeps ownership of gear.
func New(p Params, gear *[256]uint64) (*Chunker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if gear == nil {
		return nil, fmt.Errorf("%w: nil gear table", ErrParams)
	}
	c := &Chunker{gear: *gear, min: p.Min, avg: p.Avg, max: p.Max, skip: p.Min - window}
	c.maskS, c.maskL = p.Masks()
	return c, nil
}

// Params returns the parameters c was created with.
func (c *Chunker) Params() Params { return Params{Min: c.min, Avg: c.avg, Max: c.max} }

// Reset forgets any partial chunk (start of a new stream).
func (c *Chunker) Reset() { c.n, c.fp = 0, 0 }

// NextSplitPoint scans buf as the continuation of the current chunk. It
// returns n > 0 when the current chunk ends after buf[n-1] (state is then
// reset for the next chunk, which starts at buf[n]), or -1 when all of buf
// belongs to the current chunk. Feeding a stream in arbitrary slices yields
// the same boundaries as feeding it whole. buf is only read during the call.
func (c *Chunker) NextSplitPoint(buf []byte) int {
	// The chunk is processed in phases by offset o of the next byte (n):
	//   [0, skip)      not hashed: shifted out of fp before the first test
	//   [skip, min-1)  hashed, no test (lengths < Min)
	//   [min-1, avg-1) hashed, cut if fp&maskS == 0 (lengths [Min, Avg))
	//   [avg-1, max-1) hashed, cut if fp&maskL == 0 (lengths [Avg, Max))
	//   max-1          forced cut (length Max)
	if len(buf) == 0 {
		return -1
	}
	n, fp := c.n, c.fp
	gear := &c.gear
	i := 0

	if n < c.skip {
		d := c.skip - n
		if d >= len(buf) {
			c.n = n + len(buf)
			return -1
		}
		i, n = d, c.skip
	}

	if lim := c.min - 1; n < lim {
		end := min(len(buf), i+lim-n)
		for _, b := range buf[i:end] {
			fp = fp<<1 + gear[b]
		}
		n += end - i
		i = end
		if i == len(buf) {
			c.n, c.fp = n, fp
			return -1
		}
	}

	if lim := c.avg - 1; n < lim {
		end := min(len(buf), i+lim-n)
		mask := c.maskS
		for j, b := range buf[i:end] {
			fp = fp<<1 + gear[b]
			if fp&mask == 0 {
				c.n, c.fp = 0, 0
				return i + j + 1
			}
		}
		n += end - i
		i = end
		if i == len(buf) {
			c.n, c.fp = n, fp
			return -1
		}
	}

	if lim := c.max - 1; n < lim {
		end := min(len(buf), i+lim-n)
		mask := c.maskL
		for j, b := range buf[i:end] {
			fp = fp<<1 + gear[b]
			if fp&mask == 0 {
				c.n, c.fp = 0, 0
				return i + j + 1
			}
		}
		n += end - i
		i = end
		if i == len(buf) {
			c.n, c.fp = n, fp
			return -1
		}
	}

	// n == max-1 and buf[i] exists: it is the last byte of a Max-sized chunk.
	c.n, c.fp = 0, 0
	return i + 1
}

// Reader splits a stream into chunks. Not safe for concurrent use.
type Reader struct {
	rd       io.Reader
	c        *Chunker
	buf      []byte
	pos, end int   // unconsumed data is buf[pos:end]
	err      error // sticky: io.EOF or a wrapped read error
}

// maxEmptyReads bounds consecutive (0, nil) reads before io.ErrNoProgress.
const maxEmptyReads = 100

// NewReader returns a Reader over r using c. buf is an optional read buffer
// (nil: allocate 2*Max internally); the Reader owns it until it is dropped.
// Any buffer length >= 1 works; larger buffers mean fewer Read calls.
// NewReader resets c, which the Reader then owns (c is reset again at the
// end of the stream, so it may be reused for the next one).
func NewReader(r io.Reader, c *Chunker, buf []byte) *Reader {
	if len(buf) == 0 {
		buf = make([]byte, 2*c.max)
	}
	c.Reset()
	return &Reader{rd: r, c: c, buf: buf}
}

// Next returns the next chunk, appended to dst[:0] (dst is grown if needed).
// It returns io.EOF after the last chunk; an empty stream yields io.EOF at once.
// A read error other than io.EOF is returned wrapped, dropping the partial
// chunk, and is returned again by every later call.
//
// When dst has room (cap(dst) of at least the chunker's Min is a good
// size), the stream is read straight into it and only the few bytes read
// past a cut are copied, into the Reader's buffer, for the next chunk;
// otherwise every byte goes through the Reader's buffer. The chunks are
// the same either way.
func (r *Reader) Next(dst []byte) ([]byte, error) {
	dst = dst[:0]
	for {
		if r.pos == r.end {
			if r.err != nil {
				if r.err == io.EOF && len(dst) > 0 {
					r.c.Reset()
					return dst, nil
				}
				return nil, r.err
			}
			if cut, ok := r.readInto(&dst); ok {
				if cut {
					return dst, nil
				}
				continue
			}
			r.fill()
			continue
		}
		data := r.buf[r.pos:r.end]
		sp := r.c.NextSplitPoint(data)
		if sp < 0 {
			dst = append(dst, data...)
			r.pos = r.end
			continue
		}
		dst = append(dst, data[:sp]...)
		r.pos += sp
		return dst, nil
	}
}

// directStep is how far past the chunker's Min a direct read goes at a
// time: what it reads past a cut is copied back into the Reader's buffer.
const directStep = 128 << 10

// readInto reads once into the spare capacity of *dst, which holds the
// current chunk so far, and looks for a cut in what it read. ok is false
// when there is too little room (or the read returned nothing): the caller
// then reads through the Reader's buffer. The buffer must be empty.
func (r *Reader) readInto(dst *[]byte) (cut, ok bool) {
	d := *dst
	// Bytes that cannot hold a cut (the chunk is still shorter than
	// Min), then at most a step (bounded by the buffer, which takes
	// what follows a cut).
	safe := max(0, r.c.min-1-len(d))
	want := min(cap(d)-len(d), safe+min(directStep, len(r.buf)))
	if want < 16<<10 {
		return false, false
	}
	n, err := r.rd.Read(d[len(d) : len(d)+want])
	if n < 0 || n > want {
		r.err = fmt.Errorf("chunker: read: reader returned invalid count %d", n)
		return false, true
	}
	if err != nil && err != io.EOF {
		r.err = fmt.Errorf("chunker: read: %w", err) // the partial chunk is dropped
		return false, true
	}
	if err == io.EOF {
		r.err = io.EOF
	}
	if n == 0 {
		return false, err != nil
	}
	piece := d[len(d) : len(d)+n]
	sp := r.c.NextSplitPoint(piece)
	if sp < 0 {
		*dst = d[:len(d)+n]
		return false, true
	}
	*dst = d[:len(d)+sp]
	r.pos, r.end = 0, copy(r.buf, piece[sp:])
	return true, true
}

// fill reads once into the (fully consumed) buffer, setting r.err at the
// end of the stream or on a read error.
func (r *Reader) fill() {
	r.pos, r.end = 0, 0
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf)
		if n < 0 || n > len(r.buf) {
			r.err = fmt.Errorf("chunker: read: reader returned invalid count %d", n)
			return
		}
		r.end = n
		if err != nil {
			if err == io.EOF {
				r.err = io.EOF
			} else {
				r.err = fmt.Errorf("chunker: read: %w", err)
				r.end = 0 // the partial chunk is dropped anyway
			}
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = fmt.Errorf("chunker: read: %w", io.ErrNoProgress)
}
