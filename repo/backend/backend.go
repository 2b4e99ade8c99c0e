// Package backend defines where a repository's files are stored: the Backend
// interface, file handles, the ErrNotFound sentinel, and helpers shared by
// the implementations in repo/backend/{local,mem,...}.
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
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
	// ModTime is when the file was stored, on the storage's clock (file
	// system mtime, S3 LastModified); zero when the backend cannot tell.
	// Lock staleness is judged with it (docs/FORMAT.md §10.1).
	ModTime time.Time
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
	// Remove deletes h; ErrNotFound (wrapped) if missing. When ctx comes
	// from MissingOK, a missing file may also give nil: a backend whose
	// delete cannot tell (S3's DeleteObject answers 204 either way) then
	// skips the existence check and its round trip.
	Remove(ctx context.Context, h Handle) error
	// Properties returns the backend's capabilities.
	Properties() Properties
	// Close releases resources.
	Close() error
}

type missingOKKey struct{}

// MissingOK returns ctx marked for Remove calls whose caller treats a
// missing file as removed (ErrNotFound or nil, the same to it): a backend
// may then delete without checking first that the file exists.
func MissingOK(ctx context.Context) context.Context {
	return context.WithValue(ctx, missingOKKey{}, true)
}

// IsMissingOK reports whether ctx comes from MissingOK.
func IsMissingOK(ctx context.Context) bool {
	v, _ := ctx.Value(missingOKKey{}).(bool)
	return v
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

// Fixed file names of the two singleton file types. On-disk names are frozen.
const (
	MarkerName = "immich-vault" // name of the MarkerFile, whatever Handle.Name says
	ConfigName = "config"       // name of the ConfigFile, whatever Handle.Name says
)

// ErrInvalidHandle: the handle has an unknown type or a name that cannot be
// stored safely (empty, contains a path separator, starts with a dot, ...).
var ErrInvalidHandle = errors.New("backend: invalid handle")

// FileTypes lists every file type, in layout order.
var FileTypes = []FileType{MarkerFile, ConfigFile, KeyFile, PackFile, IndexFile, SnapshotFile, LockFile}

// IsSingleton reports whether t has exactly one file whose name is fixed
// (MarkerFile, ConfigFile); Handle.Name is ignored for such types.
func (t FileType) IsSingleton() bool { return t == MarkerFile || t == ConfigFile }

func (t FileType) valid() bool {
	switch t {
	case MarkerFile, ConfigFile, KeyFile, PackFile, IndexFile, SnapshotFile, LockFile:
		return true
	}
	return false
}

// Canonical returns h with the fixed name filled in for singleton types
// (MarkerFile, ConfigFile) and h unchanged otherwise.
func (h Handle) Canonical() Handle {
	switch h.Type {
	case MarkerFile:
		h.Name = MarkerName
	case ConfigFile:
		h.Name = ConfigName
	}
	return h
}

// Validate checks that h can be stored by every backend. Rules (shared by all
// implementations so that they accept exactly the same handles):
//   - the type is one of the FileType constants;
//   - for singleton types the name is ignored;
//   - otherwise the name is 1..255 bytes, contains no '/', '\\' or NUL, and
//     does not start with '.' (reserved for ".tmp-" files and "."/"..");
//   - a PackFile name starts with two lowercase hex digits (its directory).
//
// Errors wrap ErrInvalidHandle.
func (h Handle) Validate() error {
	if !h.Type.valid() {
		return fmt.Errorf("%w: unknown file type %q", ErrInvalidHandle, string(h.Type))
	}
	if h.Type.IsSingleton() {
		return nil
	}
	n := h.Name
	switch {
	case n == "":
		return fmt.Errorf("%w: empty %s name", ErrInvalidHandle, h.Type)
	case len(n) > 255:
		return fmt.Errorf("%w: %s name longer than 255 bytes", ErrInvalidHandle, h.Type)
	case n[0] == '.':
		return fmt.Errorf("%w: name %q starts with a dot", ErrInvalidHandle, n)
	case strings.ContainsAny(n, "/\\\x00"):
		return fmt.Errorf("%w: name %q contains a path separator or NUL", ErrInvalidHandle, n)
	}
	if h.Type == PackFile && (len(n) < 2 || !isLowerHex(n[0]) || !isLowerHex(n[1])) {
		return fmt.Errorf("%w: pack name %q must start with two lowercase hex digits", ErrInvalidHandle, n)
	}
	return nil
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// CheckRange validates a Load range against a file of the given size and
// returns the number of bytes to deliver. A negative offset or length is a
// plain error; a range that ends past size wraps io.ErrUnexpectedEOF.
func CheckRange(size int64, length int, offset int64) (int64, error) {
	if offset < 0 || length < 0 {
		return 0, fmt.Errorf("invalid range offset %d length %d", offset, length)
	}
	if offset > size {
		return 0, fmt.Errorf("offset %d past end of %d-byte file: %w", offset, size, io.ErrUnexpectedEOF)
	}
	if length == 0 {
		return size - offset, nil
	}
	if int64(length) > size-offset {
		return 0, fmt.Errorf("range [%d, %d) past end of %d-byte file: %w", offset, offset+int64(length), size, io.ErrUnexpectedEOF)
	}
	return int64(length), nil
}

// Spooler is implemented by backends that store files on a local
// filesystem. A writer can then build a large file (a pack) directly in a
// temporary file next to its destination and commit it by rename, instead
// of holding it in memory. Find it with As[Spooler]: decorators that do not
// change writes let it through (retry, faulty); one that does implements it
// itself (limit charges a committed file to its upload rate).
type Spooler interface {
	// CreateTemp creates an empty temporary file on the backend's own
	// filesystem for a file of type t. It is never listed.
	CreateTemp(t FileType) (*os.File, error)
	// CommitTemp makes f durable (fsync), closes it and moves it to h
	// without ever replacing an existing file (ErrExists, wrapped), then
	// makes the directory entry durable. On any error f is removed.
	CommitTemp(ctx context.Context, f *os.File, h Handle) error
	// AbortTemp closes and removes f.
	AbortTemp(f *os.File)
}

// Unwrapper is implemented by decorators (retry, limit, faulty, ...): they
// embed the Backend they wrap, override what they change, and return it
// from Unwrap.
type Unwrapper interface {
	Unwrap() Backend
}

// As finds an optional capability T (Spooler, *local.Local, ...) of b or of
// the backends b decorates: it returns the first of b, b.Unwrap(),
// b.Unwrap().Unwrap(), ... that is a T. A decorator that must see the
// operations of a capability (as limit must see spooled uploads)
// implements T itself, so As stops there.
func As[T any](b Backend) (T, bool) {
	for b != nil {
		if t, ok := b.(T); ok {
			return t, true
		}
		u, ok := b.(Unwrapper)
		if !ok {
			break
		}
		b = u.Unwrap()
	}
	var zero T
	return zero, false
}
