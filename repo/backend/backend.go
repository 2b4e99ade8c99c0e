// Package backend defines where a repository's files are stored: the Backend
// interface, file handles, the ErrNotFound sentinel, and helpers shared by
// the implementations in repo/backend/{local,mem,...}.
package backend

import (
	"context"
	"errors"
	"io"
)

// FileType is the kind of a repository file; it selects the directory/prefix.
type FileType string

const (
	MarkerFile   FileType = "marker"   // plaintext format marker, name ignored ("immich-vault")
	ConfigFile   FileType = "config"   // encrypted config, name ignored ("config")
	KeyFile      FileType = "key"      // keys/<name>
	PackFile     FileType = "data"     // data/<first 2 hex chars>/<name>
	IndexFile    FileType = "index"    // index/<name>
	SnapshotFile FileType = "snapshot" // snapshots/<name>
	LockFile     FileType = "lock"     // locks/<name>
)

// Handle names one file.
type Handle struct {
	Type FileType
	Name string
}

func (h Handle) String() string { return string(h.Type) + "/" + h.Name }

// FileInfo describes a listed file.
type FileInfo struct {
	Name string
	Size int64
}

// Properties describe a backend's capabilities.
type Properties struct {
	Connections      int  // parallel operations worth running (sizes upload/download workers)
	HasAtomicReplace bool // Save may replace an existing file atomically
}

var (
	// ErrNotFound: the file does not exist. Backends wrap it: fmt.Errorf("stat %v: %w", h, ErrNotFound).
	ErrNotFound = errors.New("backend: not found")
	// ErrExists: Save refused to overwrite an existing file.
	ErrExists = errors.New("backend: file already exists")
	// ErrNoSpace: the storage is full.
	ErrNoSpace = errors.New("backend: no space left")
)

// RewindReader is a Reader that can be rewound (for retries) and knows its length.
type RewindReader interface {
	io.Reader
	Rewind() error
	Length() int64
}

// NewByteReader returns a RewindReader over b (not copied; must not change meanwhile).
func NewByteReader(b []byte) RewindReader { return &byteReader{b: b} }

type byteReader struct {
	b   []byte
	off int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}
func (r *byteReader) Rewind() error { r.off = 0; return nil }
func (r *byteReader) Length() int64 { return int64(len(r.b)) }

// Backend stores the files of one repository. Implementations are safe for
// concurrent use.
type Backend interface {
	// Location returns a human-readable location (path or URL without secrets).
	Location() string
	// Create prepares an empty repository location (directories). It fails if
	// a marker file already exists.
	Create(ctx context.Context) error
	// Save stores rd atomically under h: readers see all of it or nothing.
	// It never overwrites: an existing file gives ErrExists (wrapped). When
	// Save returns nil the file is durable (fsync'd, or acknowledged by the
	// server). rd may be rewound and re-sent.
	Save(ctx context.Context, h Handle, rd RewindReader) error
	// Load calls fn with a reader of [offset, offset+length) of h; length 0
	// means to the end. fn may be called more than once (retries) and must be
	// idempotent. A missing file gives ErrNotFound (wrapped).
	Load(ctx context.Context, h Handle, length int, offset int64, fn func(io.Reader) error) error
	// Stat returns size information; ErrNotFound (wrapped) if missing.
	Stat(ctx context.Context, h Handle) (FileInfo, error)
	// List calls fn for every file of type t, on the caller's goroutine, in no
	// particular order; a non-nil return from fn stops listing and is returned.
	List(ctx context.Context, t FileType, fn func(FileInfo) error) error
	// Remove deletes h; ErrNotFound (wrapped) if missing.
	Remove(ctx context.Context, h Handle) error
	// Properties returns the backend's capabilities.
	Properties() Properties
	// Close releases resources.
	Close() error
}

// LoadAll reads the whole file h into memory.
func LoadAll(ctx context.Context, be Backend, h Handle) ([]byte, error) {
	var buf []byte
	err := be.Load(ctx, h, 0, 0, func(rd io.Reader) error {
		b, err := io.ReadAll(rd)
		buf = b
		return err
	})
	return buf, err
}
