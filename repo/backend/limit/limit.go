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
	"io"
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
	be       backend.Backend
	up, down *Limiter
}

var _ backend.Backend = (*Backend)(nil)

// New wraps be; uploadKiB and downloadKiB are KiB/s, 0 meaning unlimited.
// With both 0, be itself is returned.
func New(be backend.Backend, uploadKiB, downloadKiB int64) backend.Backend {
	if uploadKiB <= 0 && downloadKiB <= 0 {
		return be
	}
	b := &Backend{be: be}
	if uploadKiB > 0 {
		b.up = NewLimiter(uploadKiB << 10)
	}
	if downloadKiB > 0 {
		b.down = NewLimiter(downloadKiB << 10)
	}
	return b
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.be }

// Location forwards.
func (b *Backend) Location() string { return b.be.Location() }

// Properties forwards.
func (b *Backend) Properties() backend.Properties { return b.be.Properties() }

// Close forwards.
func (b *Backend) Close() error { return b.be.Close() }

// Create forwards.
func (b *Backend) Create(ctx context.Context) error { return b.be.Create(ctx) }

// Save paces the reads of rd.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if b.up == nil {
		return b.be.Save(ctx, h, rd)
	}
	return b.be.Save(ctx, h, &rewindReader{RewindReader: rd, r: reader{ctx: ctx, rd: rd, l: b.up}})
}

// Load paces the reads of the reader fn gets.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if b.down == nil {
		return b.be.Load(ctx, h, length, offset, fn)
	}
	return b.be.Load(ctx, h, length, offset, func(rd io.Reader) error {
		return fn(&reader{ctx: ctx, rd: rd, l: b.down})
	})
}

// Stat forwards.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	return b.be.Stat(ctx, h)
}

// List forwards.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	return b.be.List(ctx, t, fn)
}

// Remove forwards.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error { return b.be.Remove(ctx, h) }

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
