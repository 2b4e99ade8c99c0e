// Package limit is a backend.Backend decorator that caps upload and
// download bandwidth (--limit-upload / --limit-download, in KiB/s).
//
// One token bucket per direction is shared by all concurrent operations, so
// the cap holds for the whole process, whatever the number of connections.
// The bucket holds at most a quarter second of traffic, so bursts stay
// short. Only file contents are counted (not request overhead).
//
// A Backend is safe for concurrent use if the wrapped one is.
package limit

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// Limiter is a token bucket of bytes per second. Safe for concurrent use.
type Limiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
}

// NewLimiter returns a limiter of bytesPerSec (> 0).
func NewLimiter(bytesPerSec int64) *Limiter {
	if bytesPerSec <= 0 {
		panic("limit: rate must be positive")
	}
	burst := max(float64(bytesPerSec)/4, 32<<10)
	return &Limiter{rate: float64(bytesPerSec), burst: burst, tokens: burst, last: time.Now(),
		now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chunk is the largest amount taken in one Wait, so that readers with big
// buffers are paced smoothly.
func (l *Limiter) chunk() int { return int(l.burst) }

// Wait blocks until n bytes (n <= burst) may pass, or ctx ends.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	l.mu.Lock()
	now := l.now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n) // may go negative: later callers wait longer
	deficit := -l.tokens
	l.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	return l.sleep(ctx, time.Duration(deficit/l.rate*float64(time.Second)))
}

// Backend limits the wrapped backend's traffic.
type Backend struct {
	backend.Backend // all but Save and Load are the wrapped backend's
	up, down        *Limiter
}

var _ backend.Backend = (*Backend)(nil)

// New wraps be; uploadKiB and downloadKiB are KiB/s, 0 meaning unlimited.
// With both 0, be itself is returned.
func New(be backend.Backend, uploadKiB, downloadKiB int64) backend.Backend {
	if uploadKiB <= 0 && downloadKiB <= 0 {
		return be
	}
	b := &Backend{Backend: be}
	if uploadKiB > 0 {
		b.up = NewLimiter(uploadKiB << 10)
	}
	if downloadKiB > 0 {
		b.down = NewLimiter(downloadKiB << 10)
	}
	if sp, ok := backend.As[backend.Spooler](be); ok {
		return &spooling{Backend: b, sp: sp}
	}
	return b
}

// spooling is a Backend over a backend that spools packs to temporary files
// (backend.Spooler, found through any decorators). It is a Spooler too, so
// that a limit does not turn spooling off: CommitTemp charges the file's
// size to the upload limit before committing it, which keeps the average
// upload rate within the limit (a pack's bytes are written to the temporary
// file at disk speed; the commits are paced).
type spooling struct {
	*Backend
	sp backend.Spooler
}

var _ backend.Spooler = (*spooling)(nil)

func (s *spooling) CreateTemp(t backend.FileType) (*os.File, error) { return s.sp.CreateTemp(t) }

func (s *spooling) AbortTemp(f *os.File) { s.sp.AbortTemp(f) }

func (s *spooling) CommitTemp(ctx context.Context, f *os.File, h backend.Handle) error {
	if s.up != nil {
		fi, err := f.Stat()
		if err == nil {
			err = s.up.Wait(ctx, int(fi.Size()))
		}
		if err != nil {
			s.sp.AbortTemp(f)
			return fmt.Errorf("commit %v: %w", h, err)
		}
	}
	return s.sp.CommitTemp(ctx, f, h)
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.Backend }

// Save paces the reads of rd.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if b.up == nil {
		return b.Backend.Save(ctx, h, rd)
	}
	return b.Backend.Save(ctx, h, &rewindReader{RewindReader: rd, r: reader{ctx: ctx, rd: rd, l: b.up}})
}

// Load paces the reads of the reader fn gets.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if b.down == nil {
		return b.Backend.Load(ctx, h, length, offset, fn)
	}
	return b.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error {
		return fn(&reader{ctx: ctx, rd: rd, l: b.down})
	})
}

type reader struct {
	ctx context.Context
	rd  io.Reader
	l   *Limiter
}

func (r *reader) Read(p []byte) (int, error) {
	if c := r.l.chunk(); len(p) > c {
		p = p[:c]
	}
	n, err := r.rd.Read(p)
	if n > 0 {
		if werr := r.l.Wait(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

type rewindReader struct {
	backend.RewindReader
	r reader
}

func (r *rewindReader) Read(p []byte) (int, error) { return r.r.Read(p) }
