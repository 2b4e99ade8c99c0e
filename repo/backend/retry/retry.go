// Package retry is a backend.Backend decorator that retries transient
// failures with exponential backoff and full jitter.
//
// Never retried: a canceled or expired context; errors wrapping
// backend.ErrNotFound, ErrExists, ErrInvalidHandle or ErrNoSpace; errors
// implementing interface{ Permanent() bool } that say true (e.g. the S3
// backend's refused credentials and past-the-end ranges); and errors
// returned by the caller's Load fn unless they look like a broken transfer
// (io.ErrUnexpectedEOF, a network error).
//
// Save rewinds the reader before each new attempt. When a retried Save
// (attempt 2 or later) meets ErrExists, the earlier attempt is taken to have succeeded with its
// acknowledgement lost, and Save returns nil if the stored bytes equal the
// reader's (compared by reading both; this happens only after a failure).
//
// A Backend is safe for concurrent use if the wrapped one is.
package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// Options tune the retries. Zero values mean the defaults.
type Options struct {
	// MaxAttempts including the first (default 6).
	MaxAttempts int
	// InitialDelay before the second attempt (default 250 ms); each later
	// delay doubles, capped at MaxDelay (default 15 s); every delay is drawn
	// uniformly from [0, d] (full jitter).
	InitialDelay time.Duration
	MaxDelay     time.Duration
	// OnRetry, if set, is told about every failure that will be retried.
	OnRetry func(op string, h backend.Handle, attempt int, err error, delay time.Duration)
}

// Backend retries the operations of the wrapped backend.
type Backend struct {
	backend.Backend // Location, Properties and Close are the wrapped backend's
	opts            Options
}

var _ backend.Backend = (*Backend)(nil)

// New wraps be.
func New(be backend.Backend, opts Options) *Backend {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 6
	}
	if opts.InitialDelay <= 0 {
		opts.InitialDelay = 250 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 15 * time.Second
	}
	return &Backend{Backend: be, opts: opts}
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.Backend }

// Permanent reports whether err must not be retried.
func Permanent(err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrExists) ||
		errors.Is(err, backend.ErrInvalidHandle) || errors.Is(err, backend.ErrNoSpace) {
		return true
	}
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// fnError marks an error returned by the caller's Load fn.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// transferBroken reports whether an error from the caller's fn comes from a
// broken transfer (worth retrying) rather than from the caller's logic.
func transferBroken(err error) bool {
	if Permanent(err) {
		return false
	}
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// do runs op until it succeeds, fails permanently, or attempts run out.
func (b *Backend) do(ctx context.Context, name string, h backend.Handle, op func(attempt int) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = op(attempt)
		if err == nil {
			return nil
		}
		var fe *fnError
		if errors.As(err, &fe) {
			if !transferBroken(fe.err) {
				return err
			}
		} else if Permanent(err) {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(err, ctxErr) {
				return err
			}
			return fmt.Errorf("%w: %w", ctxErr, err)
		}
		if attempt >= b.opts.MaxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		d := b.opts.InitialDelay << (attempt - 1)
		if d > b.opts.MaxDelay || d <= 0 {
			d = b.opts.MaxDelay
		}
		d = time.Duration(rand.Int64N(int64(d) + 1))
		if b.opts.OnRetry != nil {
			b.opts.OnRetry(name, h, attempt, err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while waiting to retry: %w)", ctx.Err(), err)
		}
	}
}

// Create retries.
func (b *Backend) Create(ctx context.Context) error {
	return b.do(ctx, "create", backend.Handle{}, func(int) error { return b.Backend.Create(ctx) })
}

// Save rewinds rd and retries.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	return b.do(ctx, "save", h, func(attempt int) error {
		if attempt > 1 {
			if err := rd.Rewind(); err != nil {
				return &permanentError{fmt.Errorf("rewind %v: %w", h, err)}
			}
		}
		err := b.Backend.Save(ctx, h, rd)
		if attempt > 1 && errors.Is(err, backend.ErrExists) && b.sameContent(ctx, h, rd) {
			return nil
		}
		return err
	})
}

// sameContent reports whether the stored file h holds exactly rd's bytes
// (after a lost acknowledgement, the earlier attempt stored them).
func (b *Backend) sameContent(ctx context.Context, h backend.Handle, rd backend.RewindReader) bool {
	if fi, err := b.Backend.Stat(ctx, h); err != nil || fi.Size != rd.Length() {
		return false
	}
	if rd.Rewind() != nil {
		return false
	}
	same := false
	err := b.Backend.Load(ctx, h, 0, 0, func(stored io.Reader) error {
		same = equalReaders(stored, rd)
		return nil
	})
	return err == nil && same
}

func equalReaders(a, b io.Reader) bool {
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea != nil || eb != nil {
			return (ea == io.EOF || ea == io.ErrUnexpectedEOF) && (eb == io.EOF || eb == io.ErrUnexpectedEOF)
		}
	}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// Load retries, tagging errors that come from fn.
func (b *Backend) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	err := b.do(ctx, "load", h, func(int) error {
		return b.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error {
			if err := fn(rd); err != nil {
				return &fnError{err}
			}
			return nil
		})
	})
	return err
}

// Stat retries.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	var fi backend.FileInfo
	err := b.do(ctx, "stat", h, func(int) error {
		var err error
		fi, err = b.Backend.Stat(ctx, h)
		return err
	})
	return fi, err
}

// List retries only while fn has not been called yet: a listing that
// failed midway cannot be resumed without calling fn twice for a file.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	return b.do(ctx, "list", backend.Handle{Type: t}, func(int) error {
		called := false
		err := b.Backend.List(ctx, t, func(fi backend.FileInfo) error {
			called = true
			if err := fn(fi); err != nil {
				return &fnError{err}
			}
			return nil
		})
		var fe *fnError
		if err != nil && called && !errors.As(err, &fe) {
			return &permanentError{err}
		}
		if errors.As(err, &fe) {
			return &permanentError{fe.err}
		}
		return err
	})
}

// Remove retries; ErrNotFound on a retry after a failed first attempt means
// the first attempt removed the file, and is reported as success.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	return b.do(ctx, "remove", h, func(attempt int) error {
		err := b.Backend.Remove(ctx, h)
		if attempt > 1 && errors.Is(err, backend.ErrNotFound) {
			return nil
		}
		return err
	})
}
