// Package faulty wraps a Backend and injects failures per method, for tests
// of the packages above the backend (retries, error paths, crash safety).
//
// Every hook is a function of the handle (or file type for List) that
// returns the error to inject, or nil to let the call through; Nth, After
// and ForType build common hooks. Hooks may be replaced at any time, also
// while calls are running; they are called without Faulty's lock held and
// must be safe for concurrent use (the helpers here are).
package faulty

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// Op names a Backend method, for Calls.
type Op string

const (
	OpCreate Op = "create"
	OpSave   Op = "save"
	OpLoad   Op = "load"
	OpStat   Op = "stat"
	OpList   Op = "list"
	OpRemove Op = "remove"
)

// Faulty is a backend.Backend decorator that injects failures. The zero
// configuration forwards everything unchanged. It is safe for concurrent
// use.
type Faulty struct {
	backend.Backend // Properties and Close are the wrapped backend's

	mu    sync.Mutex
	h     hooks
	calls map[Op]int
}

// hooks is the injected configuration; copied per call.
type hooks struct {
	saveErr      func(backend.Handle) error
	saveErrAfter func(backend.Handle) error
	loadErr      func(backend.Handle) error
	statErr      func(backend.Handle) error
	removeErr    func(backend.Handle) error
	listErr      func(backend.FileType) error
	shortRead    func(backend.Handle) int64
	loadWrap     func(backend.Handle, io.Reader) io.Reader
	delay        time.Duration
}

var _ backend.Backend = (*Faulty)(nil)

// New wraps be.
func New(be backend.Backend) *Faulty {
	return &Faulty{Backend: be, calls: make(map[Op]int)}
}

// Unwrap returns the wrapped backend.
func (f *Faulty) Unwrap() backend.Backend { return f.Backend }

// SetSaveErr makes Save return fn(h) when it is non-nil, before the wrapped
// backend is called (nothing is stored, the reader is not read).
func (f *Faulty) SetSaveErr(fn func(h backend.Handle) error) { f.set(func() { f.h.saveErr = fn }) }

// SetSaveErrAfter makes Save return fn(h) when it is non-nil, after the
// wrapped Save succeeded: the file IS stored but the caller sees an error,
// like a lost acknowledgement or a crash right after the write.
func (f *Faulty) SetSaveErrAfter(fn func(h backend.Handle) error) {
	f.set(func() { f.h.saveErrAfter = fn })
}

// SetLoadErr makes Load return fn(h) when it is non-nil, without calling
// the wrapped backend or the caller's fn.
func (f *Faulty) SetLoadErr(fn func(h backend.Handle) error) { f.set(func() { f.h.loadErr = fn }) }

// SetStatErr makes Stat return fn(h) when it is non-nil.
func (f *Faulty) SetStatErr(fn func(h backend.Handle) error) { f.set(func() { f.h.statErr = fn }) }

// SetRemoveErr makes Remove return fn(h) when it is non-nil (nothing is
// removed).
func (f *Faulty) SetRemoveErr(fn func(h backend.Handle) error) { f.set(func() { f.h.removeErr = fn }) }

// SetListErr makes List return fn(t) when it is non-nil, before listing.
func (f *Faulty) SetListErr(fn func(t backend.FileType) error) { f.set(func() { f.h.listErr = fn }) }

// SetShortRead truncates what Load's reader delivers: when fn(h) returns
// n >= 0 the reader ends (io.EOF, no error) after n bytes, silently, like a
// misbehaving server. A negative n leaves the reader alone.
func (f *Faulty) SetShortRead(fn func(h backend.Handle) int64) { f.set(func() { f.h.shortRead = fn }) }

// SetLoadWrap replaces Load's reader by fn(h, rd), e.g. to flip bytes
// (corruption) or to fail mid-stream. It applies after SetShortRead.
func (f *Faulty) SetLoadWrap(fn func(h backend.Handle, rd io.Reader) io.Reader) {
	f.set(func() { f.h.loadWrap = fn })
}

// SetDelay makes Save, Load, Stat, List and Remove wait d before doing
// anything; a context canceled meanwhile ends the call with its error.
func (f *Faulty) SetDelay(d time.Duration) { f.set(func() { f.h.delay = d }) }

// Reset removes every hook and the delay (call counts are kept).
func (f *Faulty) Reset() {
	f.set(func() { f.h = hooks{} })
}

// Calls returns how many times op was called (including failed calls).
func (f *Faulty) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *Faulty) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// enter counts the call, returns a copy of the configuration and applies
// the delay.
func (f *Faulty) enter(ctx context.Context, op Op) (hooks, error) {
	f.mu.Lock()
	f.calls[op]++
	cfg := f.h
	f.mu.Unlock()
	if cfg.delay > 0 {
		tm := time.NewTimer(cfg.delay)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-ctx.Done():
			return cfg, fmt.Errorf("faulty %s: %w", op, ctx.Err())
		}
	}
	return cfg, nil
}

// Location returns the wrapped location with a "faulty:" prefix.
func (f *Faulty) Location() string { return "faulty:" + f.Backend.Location() }

// Create forwards (no hooks; counted).
func (f *Faulty) Create(ctx context.Context) error {
	f.mu.Lock()
	f.calls[OpCreate]++
	f.mu.Unlock()
	return f.Backend.Create(ctx)
}

// Save applies SetSaveErr, forwards, then applies SetSaveErrAfter.
func (f *Faulty) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	cfg, err := f.enter(ctx, OpSave)
	if err != nil {
		return err
	}
	if cfg.saveErr != nil {
		if err := cfg.saveErr(h); err != nil {
			return err
		}
	}
	if err := f.Backend.Save(ctx, h, rd); err != nil {
		return err
	}
	if cfg.saveErrAfter != nil {
		return cfg.saveErrAfter(h)
	}
	return nil
}

// Load applies SetLoadErr, then SetShortRead and SetLoadWrap to the reader.
func (f *Faulty) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	cfg, err := f.enter(ctx, OpLoad)
	if err != nil {
		return err
	}
	if cfg.loadErr != nil {
		if err := cfg.loadErr(h); err != nil {
			return err
		}
	}
	if cfg.shortRead == nil && cfg.loadWrap == nil {
		return f.Backend.Load(ctx, h, length, offset, fn)
	}
	return f.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error {
		if cfg.shortRead != nil {
			if n := cfg.shortRead(h); n >= 0 {
				rd = io.LimitReader(rd, n)
			}
		}
		if cfg.loadWrap != nil {
			rd = cfg.loadWrap(h, rd)
		}
		return fn(rd)
	})
}

// Stat applies SetStatErr, then forwards.
func (f *Faulty) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	cfg, err := f.enter(ctx, OpStat)
	if err != nil {
		return backend.FileInfo{}, err
	}
	if cfg.statErr != nil {
		if err := cfg.statErr(h); err != nil {
			return backend.FileInfo{}, err
		}
	}
	return f.Backend.Stat(ctx, h)
}

// List applies SetListErr, then forwards.
func (f *Faulty) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	cfg, err := f.enter(ctx, OpList)
	if err != nil {
		return err
	}
	if cfg.listErr != nil {
		if err := cfg.listErr(t); err != nil {
			return err
		}
	}
	return f.Backend.List(ctx, t, fn)
}

// Remove applies SetRemoveErr, then forwards.
func (f *Faulty) Remove(ctx context.Context, h backend.Handle) error {
	cfg, err := f.enter(ctx, OpRemove)
	if err != nil {
		return err
	}
	if cfg.removeErr != nil {
		if err := cfg.removeErr(h); err != nil {
			return err
		}
	}
	return f.Backend.Remove(ctx, h)
}

// Nth returns a hook that returns err on its nth call (1-based) only.
// Calls are counted atomically across goroutines.
func Nth[T any](n int, err error) func(T) error {
	var calls atomic.Int64
	return func(T) error {
		if calls.Add(1) == int64(n) {
			return err
		}
		return nil
	}
}

// After returns a hook that lets the first n calls through and returns err
// on every later call (e.g. a disk that fills up after n packs).
func After[T any](n int, err error) func(T) error {
	var calls atomic.Int64
	return func(T) error {
		if calls.Add(1) > int64(n) {
			return err
		}
		return nil
	}
}

// Always returns a hook that always returns err.
func Always[T any](err error) func(T) error { return func(T) error { return err } }

// ForType returns a hook that returns err for handles of type t only.
func ForType(t backend.FileType, err error) func(backend.Handle) error {
	return func(h backend.Handle) error {
		if h.Type == t {
			return err
		}
		return nil
	}
}
