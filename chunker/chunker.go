// Package chunker implements content-defined chunking: a FastCDC-style gear
// rolling hash with normalized chunking. The gear table is supplied by the
// caller (immich-vault derives it from the repository key, so boundaries do
// not fingerprint known files). It depends on nothing but io.
package chunker

import (
	"errors"
	"io"
)

// Params are persisted in the repository config and never change after init.
type Params struct {
	Min int `json:"min"` // no boundary before Min bytes
	Avg int `json:"avg"` // target average; a power of two
	Max int `json:"max"` // forced boundary at Max bytes
}

// ErrParams is returned for invalid parameters.
var ErrParams = errors.New("chunker: invalid parameters")

// Validate checks 64 <= Min < Avg < Max <= 64 MiB and Avg a power of two.
func (p Params) Validate() error { panic("TODO") }

// Chunker finds chunk boundaries. Not safe for concurrent use.
type Chunker struct{}

// New returns a Chunker for p with the given gear table.
func New(p Params, gear *[256]uint64) (*Chunker, error) { panic("TODO") }

// Reset forgets any partial chunk (start of a new stream).
func (c *Chunker) Reset() { panic("TODO") }

// NextSplitPoint scans buf as the continuation of the current chunk. It
// returns n > 0 when the current chunk ends after buf[n-1] (state is then
// reset for the next chunk, which starts at buf[n]), or -1 when all of buf
// belongs to the current chunk. Feeding a stream in arbitrary slices yields
// the same boundaries as feeding it whole.
func (c *Chunker) NextSplitPoint(buf []byte) int { panic("TODO") }

// Reader splits a stream into chunks.
type Reader struct{}

// NewReader returns a Reader over r using c. buf is an optional read buffer
// (nil: allocate 2*Max internally).
func NewReader(r io.Reader, c *Chunker, buf []byte) *Reader { panic("TODO") }

// Next returns the next chunk, appended to dst[:0] (dst is grown if needed).
// It returns io.EOF after the last chunk; an empty stream yields io.EOF at once.
func (r *Reader) Next(dst []byte) ([]byte, error) { panic("TODO") }
