// Package mem is an in-memory Backend for tests. It has the same semantics
// as the real backends (no overwrite, ErrNotFound, strict ranges, handle
// validation, context cancellation) and passes backendtest.Run.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// DefaultConnections is what Properties reports.
const DefaultConnections = 4

// Mem stores files in a map guarded by a mutex. It is safe for concurrent
// use. Stored bytes are private copies; Load hands out read-only readers.
type Mem struct {
	mu    sync.Mutex
	files map[backend.Handle][]byte
	mtime map[backend.Handle]time.Time // when each file was saved
}

var _ backend.Backend = (*Mem)(nil)

// New returns an empty in-memory backend.
func New() *Mem {
	return &Mem{files: make(map[backend.Handle][]byte), mtime: make(map[backend.Handle]time.Time)}
}

// Location returns "mem:".
func (m *Mem) Location() string { return "mem:" }

// Properties reports DefaultConnections and no atomic replace.
func (m *Mem) Properties() backend.Properties {
	return backend.Properties{Connections: DefaultConnections}
}

// Close does nothing; the contents stay available.
func (m *Mem) Close() error { return nil }

// Create fails with backend.ErrExists (wrapped) if a marker is stored.
func (m *Mem) Create(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[backend.Handle{Type: backend.MarkerFile}.Canonical()]; ok {
		return fmt.Errorf("create mem: repository marker exists: %w", backend.ErrExists)
	}
	return nil
}

// Save reads exactly rd.Length() bytes from rd and stores a copy; see
// backend.Backend.
func (m *Mem) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("save %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save %v: %w", h, err)
	}
	h = h.Canonical()
	want := rd.Length()
	if want < 0 {
		return fmt.Errorf("save %v: negative length %d", h, want)
	}
	buf := bytes.NewBuffer(make([]byte, 0, want))
	// Read one byte more than announced to detect a lying reader.
	n, err := io.Copy(buf, io.LimitReader(rd, want+1))
	if err != nil {
		return fmt.Errorf("save %v: read: %w", h, err)
	}
	if n != want {
		return fmt.Errorf("save %v: reader returned %d bytes, length says %d: %w", h, n, want, io.ErrUnexpectedEOF)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save %v: %w", h, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[h]; ok {
		return fmt.Errorf("save %v: %w", h, backend.ErrExists)
	}
	m.files[h] = buf.Bytes()
	m.mtime[h] = time.Now()
	return nil
}

// Load calls fn with a *bytes.Reader over the requested range; see
// backend.Backend. A range past the end wraps io.ErrUnexpectedEOF and fn is
// not called. fn's error is returned unchanged.
func (m *Mem) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	h = h.Canonical()
	m.mu.Lock()
	b, ok := m.files[h]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("load %v: %w", h, backend.ErrNotFound)
	}
	n, err := backend.CheckRange(int64(len(b)), length, offset)
	if err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	// Files are never modified after Save, so b can be shared.
	return fn(bytes.NewReader(b[offset : offset+n]))
}

// Stat returns the size of h; backend.ErrNotFound (wrapped) if missing.
func (m *Mem) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := h.Validate(); err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %v: %w", h, err)
	}
	h = h.Canonical()
	m.mu.Lock()
	b, ok := m.files[h]
	mt := m.mtime[h]
	m.mu.Unlock()
	if !ok {
		return backend.FileInfo{}, fmt.Errorf("stat %v: %w", h, backend.ErrNotFound)
	}
	return backend.FileInfo{Name: h.Name, Size: int64(len(b)), ModTime: mt}, nil
}

// List calls fn for a snapshot of the files of type t taken at the start;
// fn runs without the lock held, so it may call back into m.
func (m *Mem) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := (backend.Handle{Type: t, Name: "00"}).Validate(); err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	var fis []backend.FileInfo
	m.mu.Lock()
	for h, b := range m.files {
		if h.Type == t {
			fis = append(fis, backend.FileInfo{Name: h.Name, Size: int64(len(b)), ModTime: m.mtime[h]})
		}
	}
	m.mu.Unlock()
	for _, fi := range fis {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", t, err)
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes h; backend.ErrNotFound (wrapped) if missing.
func (m *Mem) Remove(ctx context.Context, h backend.Handle) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("remove %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove %v: %w", h, err)
	}
	h = h.Canonical()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[h]; !ok {
		return fmt.Errorf("remove %v: %w", h, backend.ErrNotFound)
	}
	delete(m.files, h)
	delete(m.mtime, h)
	return nil
}
