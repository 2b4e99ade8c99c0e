// Package local stores a repository in a directory of the local filesystem.
//
// # Layout
//
//	<dir>/immich-vault          MarkerFile (Handle.Name ignored)
//	<dir>/config                ConfigFile (Handle.Name ignored)
//	<dir>/keys/<name>           KeyFile
//	<dir>/data/<name[0:2]>/<name> PackFile (256 subdirectories 00..ff)
//	<dir>/index/<name>          IndexFile
//	<dir>/snapshots/<name>      SnapshotFile
//	<dir>/locks/<name>          LockFile
//
// Directories are created with mode 0700 and files with mode 0600 (before
// the umask). Files are never modified after Save: immutability is a
// protocol guarantee, not a permission bit, so files stay owner-writable and
// tools such as rsync or cp can mirror the directory without fighting
// read-only modes.
//
// # Durability
//
// Save writes to "<target dir>/.tmp-<random>", fsyncs the file, moves it to
// its final name with renameat2(RENAME_NOREPLACE) (or link(2)+unlink(2)
// where the filesystem does not support that flag), and fsyncs the
// directory. When Save returns nil the file's data and its directory entry
// are on stable storage. Remove also fsyncs the directory, so that a
// deletion that was reported is not undone by a crash.
//
// # Concurrency
//
// A *Local is safe for concurrent use; several processes may share a
// directory (names are content-derived or random, and Save never replaces).
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// tmpPrefix starts the name of every temporary file; List skips such files.
const tmpPrefix = ".tmp-"

// Directory and file modes.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// DefaultConnections is the number of parallel operations worth running
// against a local disk when Options.Connections is zero.
const DefaultConnections = 4

// Options configure a Local backend. The zero value means defaults.
type Options struct {
	// Connections is reported by Properties (sizes upload/download
	// workers); 0 means DefaultConnections.
	Connections int
}

// Local is a Backend over a local directory.
type Local struct {
	dir   string
	props backend.Properties

	// Test knobs (internal tests only).
	noRenameat2 bool // always use the link(2)+unlink(2) fallback
	noPrealloc  bool // skip fallocate, so ENOSPC shows up in write/fsync
}

var _ backend.Backend = (*Local)(nil)

// Open returns a Backend for the repository directory dir (it need not exist
// yet for Create). Writes go to a temporary file in the target directory,
// are fsync'd, renamed into place (never replacing an existing file), and the
// directory is fsync'd. ENOSPC is reported as backend.ErrNoSpace (wrapped)
// and the temporary file is removed.
func Open(dir string) (*Local, error) {
	return OpenWithOptions(dir, Options{})
}

// OpenWithOptions is Open with explicit options.
func OpenWithOptions(dir string, opt Options) (*Local, error) {
	if dir == "" {
		return nil, errors.New("local: empty directory name")
	}
	if opt.Connections < 0 {
		return nil, fmt.Errorf("local: invalid connections %d", opt.Connections)
	}
	if opt.Connections == 0 {
		opt.Connections = DefaultConnections
	}
	return &Local{
		dir:   filepath.Clean(dir),
		props: backend.Properties{Connections: opt.Connections, HasAtomicReplace: false},
	}, nil
}

// Location returns the repository directory.
func (l *Local) Location() string { return l.dir }

// Properties reports Connections (Options.Connections) and no atomic replace.
func (l *Local) Properties() backend.Properties { return l.props }

// Close does nothing; a Local holds no resources between calls.
func (l *Local) Close() error { return nil }

// typeDir returns the directory holding files of type t.
func (l *Local) typeDir(t backend.FileType) string {
	switch t {
	case backend.KeyFile:
		return filepath.Join(l.dir, "keys")
	case backend.PackFile:
		return filepath.Join(l.dir, "data")
	case backend.IndexFile:
		return filepath.Join(l.dir, "index")
	case backend.SnapshotFile:
		return filepath.Join(l.dir, "snapshots")
	case backend.LockFile:
		return filepath.Join(l.dir, "locks")
	}
	return l.dir // MarkerFile, ConfigFile
}

// path returns the path of a validated, canonical handle.
func (l *Local) path(h backend.Handle) string {
	if h.Type == backend.PackFile {
		return filepath.Join(l.typeDir(h.Type), h.Name[:2], h.Name)
	}
	return filepath.Join(l.typeDir(h.Type), h.Name)
}

// Create makes dir (with parents), keys/, data/00..data/ff, index/,
// snapshots/ and locks/ (mode 0700) and fsyncs them. It fails with
// backend.ErrExists (wrapped) if the marker file exists. Creating over a
// half-created directory (an interrupted Create) is fine.
func (l *Local) Create(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	marker := l.path(backend.Handle{Type: backend.MarkerFile}.Canonical())
	if _, err := os.Lstat(marker); err == nil {
		return fmt.Errorf("create %s: repository marker exists: %w", l.dir, backend.ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create %s: %w", l.dir, err)
	}
	if err := os.MkdirAll(l.dir, dirMode); err != nil {
		return fmt.Errorf("create %s: %w", l.dir, mapErr(err))
	}
	var dirs []string
	for _, t := range []backend.FileType{backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile} {
		dirs = append(dirs, l.typeDir(t))
	}
	dataDir := l.typeDir(backend.PackFile)
	for i := range 256 {
		dirs = append(dirs, filepath.Join(dataDir, fmt.Sprintf("%02x", i)))
	}
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := os.Mkdir(d, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", d, mapErr(err))
		}
	}
	// Make the new directory entries durable: data/xx live in data/, the
	// type directories in dir, and dir in its parent.
	for _, d := range []string{dataDir, l.dir, filepath.Dir(l.dir)} {
		if err := fsyncDir(d); err != nil {
			return fmt.Errorf("create: %w", mapErr(err))
		}
	}
	return nil
}

// Save stores rd under h; see backend.Backend. It reads exactly rd.Length()
// bytes from the current position of rd (it does not rewind first); a
// different length is an error. On any error no file is left behind.
func (l *Local) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) (err error) {
	if err := l.save(ctx, h, rd); err != nil {
		return fmt.Errorf("save %v: %w", h, err)
	}
	return nil
}

func (l *Local) save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h = h.Canonical()
	target := l.path(h)
	dir := filepath.Dir(target)
	// Cheap early refusal (the rename below is what enforces it): do not
	// write a whole pack only to find the name taken.
	if _, err := os.Lstat(target); err == nil {
		return backend.ErrExists
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return mapErr(err)
	}
	tmp := f.Name()
	moved := false
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if !moved {
			_ = os.Remove(tmp)
		}
	}()

	if want := rd.Length(); want > 0 && !l.noPrealloc {
		// Reserve the space up front: a full disk fails before any data
		// is written, and the file is laid out contiguously.
		if err := preallocate(f, want); err != nil {
			return mapErr(err)
		}
	}
	if err := copyCtx(ctx, f, rd); err != nil {
		return mapErr(err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", mapErr(err))
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("close: %w", mapErr(err))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.moveNoReplace(tmp, target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return backend.ErrExists
		}
		return fmt.Errorf("rename: %w", mapErr(err))
	}
	moved = true
	if err := fsyncDir(dir); err != nil {
		// Not durable: withdraw the file so that an error always means
		// "not stored" (best effort).
		_ = os.Remove(target)
		return fmt.Errorf("fsync dir: %w", mapErr(err))
	}
	return nil
}

var _ backend.Spooler = (*Local)(nil)

// CreateTemp creates a temporary file in the directory of type t (packs:
// data/, from where CommitTemp renames it into data/xx/). Such files start
// with ".tmp-" and are never listed.
func (l *Local) CreateTemp(t backend.FileType) (*os.File, error) {
	f, err := os.CreateTemp(l.typeDir(t), tmpPrefix+"*")
	if err != nil {
		return nil, mapErr(err)
	}
	return f, nil
}

// AbortTemp closes and removes a file from CreateTemp.
func (l *Local) AbortTemp(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// CommitTemp fsyncs and closes f, moves it to h without replacing an
// existing file, and fsyncs the target directory — the same protocol as
// Save, minus the copy. On any error f is removed.
func (l *Local) CommitTemp(ctx context.Context, f *os.File, h backend.Handle) error {
	tmp := f.Name()
	moved := false
	defer func() {
		if !moved {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := h.Validate(); err != nil {
		return fmt.Errorf("commit %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit %v: %w", h, err)
	}
	h = h.Canonical()
	target := l.path(h)
	if err := f.Sync(); err != nil {
		return fmt.Errorf("commit %v: fsync: %w", h, mapErr(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("commit %v: close: %w", h, mapErr(err))
	}
	if err := l.moveNoReplace(tmp, target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("commit %v: %w", h, backend.ErrExists)
		}
		return fmt.Errorf("commit %v: rename: %w", h, mapErr(err))
	}
	moved = true
	if err := fsyncDir(filepath.Dir(target)); err != nil {
		_ = os.Remove(target)
		return fmt.Errorf("commit %v: fsync dir: %w", h, mapErr(err))
	}
	return nil
}

// moveNoReplace renames tmp to target, failing with an error satisfying
// errors.Is(err, fs.ErrExist) if target exists. It never replaces target.
func (l *Local) moveNoReplace(tmp, target string) error {
	if !l.noRenameat2 {
		err := renameNoReplace(tmp, target)
		if !errors.Is(err, errNoRenameat2) {
			return err
		}
	}
	// Fallback: link(2) fails with EEXIST if target exists, then drop tmp.
	if err := os.Link(tmp, target); err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		// target is in place; a leftover tmp is skipped by List. Report
		// success: the data is stored.
		return nil
	}
	return nil
}

// copyBufSize is the copy chunk; ctx is checked between chunks.
const copyBufSize = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyCtx copies exactly rd.Length() bytes from rd to f, checking ctx
// between chunks.
func copyCtx(ctx context.Context, f *os.File, rd backend.RewindReader) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	want := rd.Length()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, rerr := rd.Read(buf)
		if m > 0 {
			if n+int64(m) > want {
				return fmt.Errorf("reader returned more than its length %d", want)
			}
			if _, err := f.Write(buf[:m]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read: %w", rerr)
		}
	}
	if n != want {
		return fmt.Errorf("reader returned %d bytes, length says %d: %w", n, want, io.ErrUnexpectedEOF)
	}
	return nil
}

// mapErr turns "disk full" errors (ENOSPC, EDQUOT) into errors that also
// match backend.ErrNoSpace; other errors are returned unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, errQuota) {
		return fmt.Errorf("%w: %w", backend.ErrNoSpace, err)
	}
	return err
}

// fsyncDir fsyncs a directory so that entries created or removed in it are
// durable.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && ignoreDirSyncErr(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Load calls fn with a reader of [offset, offset+length) of h (length 0: to
// the end). The reader is an *io.SectionReader, so fn may also use it as an
// io.ReaderAt/io.Seeker; it is valid only during fn. A pack range of 1-16
// MiB loaded with a context marked backend.WithReadOnce is read whole into
// memory first (with O_DIRECT on Linux: load_direct_linux.go); its reader
// is an io.ReaderAt/io.Seeker too, plus NextBytes, which lends that memory.
// A range ending past the end of the file is an error wrapping
// io.ErrUnexpectedEOF and fn is not called. fn's error is returned
// unchanged.
func (l *Local) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	p := l.path(h.Canonical())
	if h.Type == backend.PackFile && backend.ReadOnce(ctx) {
		if ok, err := loadDirect(h, p, length, offset, fn); ok {
			return err
		}
	}
	r, size, closeFile, err := openLoad(p)
	if err != nil {
		return fmt.Errorf("load %v: %w", h, notFound(err))
	}
	defer closeFile()
	n, err := backend.CheckRange(size, length, offset)
	if err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load %v: %w", h, err)
	}
	return fn(io.NewSectionReader(r, offset, n))
}

// notFound wraps fs.ErrNotExist errors with backend.ErrNotFound. ENOTDIR
// (a path component is a file) means the file cannot exist either.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", backend.ErrNotFound, err)
	}
	return err
}

// Stat returns the size of h; backend.ErrNotFound (wrapped) if missing.
// Singleton types report their fixed name.
func (l *Local) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := h.Validate(); err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %v: %w", h, err)
	}
	h = h.Canonical()
	fi, err := os.Stat(l.path(h))
	if err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %v: %w", h, notFound(err))
	}
	if !fi.Mode().IsRegular() {
		return backend.FileInfo{}, fmt.Errorf("stat %v: not a regular file", h)
	}
	return backend.FileInfo{Name: h.Name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List calls fn for every file of type t (walking data/xx for packs), in
// lexical order per directory. Temporary ".tmp-" files, directories and
// files that vanish while listing are skipped; a missing type directory
// lists nothing.
func (l *Local) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := (backend.Handle{Type: t, Name: "00"}).Validate(); err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	if t.IsSingleton() {
		h := backend.Handle{Type: t}.Canonical()
		fi, err := os.Stat(l.path(h))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", t, err)
		}
		return fn(backend.FileInfo{Name: h.Name, Size: fi.Size(), ModTime: fi.ModTime()})
	}
	if t != backend.PackFile {
		return l.listDir(ctx, t, l.typeDir(t), fn)
	}
	subs, err := os.ReadDir(l.typeDir(t))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	for _, s := range subs {
		if !s.IsDir() || strings.HasPrefix(s.Name(), ".") {
			continue
		}
		if err := l.listDir(ctx, t, filepath.Join(l.typeDir(t), s.Name()), fn); err != nil {
			return err
		}
	}
	return nil
}

func (l *Local) listDir(ctx context.Context, t backend.FileType, dir string, fn func(backend.FileInfo) error) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", t, err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", t, err)
		}
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", t, err)
		}
		if err := fn(backend.FileInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes h and fsyncs its directory; backend.ErrNotFound (wrapped)
// if missing.
func (l *Local) Remove(ctx context.Context, h backend.Handle) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("remove %v: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove %v: %w", h, err)
	}
	p := l.path(h.Canonical())
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove %v: %w", h, notFound(err))
	}
	if err := fsyncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("remove %v: %w", h, err)
	}
	return nil
}

// TempFile is a temporary file in the repository directory: a Save or a
// spooled pack in progress, or one left by a process that was killed
// (SIGKILL, power loss) before it could remove it.
type TempFile struct {
	Path    string
	Size    int64
	ModTime time.Time
}

// TempFiles lists the ".tmp-" files of every directory a write may leave
// them in (the repository directory, the type directories and data/xx).
// Files that vanish while listing are skipped.
func (l *Local) TempFiles(ctx context.Context) ([]TempFile, error) {
	dirs := []string{l.dir}
	for _, t := range []backend.FileType{backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile} {
		dirs = append(dirs, l.typeDir(t))
	}
	for i := range 256 {
		dirs = append(dirs, filepath.Join(l.typeDir(backend.PackFile), fmt.Sprintf("%02x", i)))
	}
	var out []TempFile
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list temporary files in %s: %w", d, err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), tmpPrefix) || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("list temporary files in %s: %w", d, err)
			}
			out = append(out, TempFile{Path: filepath.Join(d, e.Name()), Size: fi.Size(), ModTime: fi.ModTime()})
		}
	}
	return out, nil
}

// RemoveTempFile removes a file listed by TempFiles (a path outside the
// repository or not named ".tmp-*" is refused). A file already gone is not
// an error.
func (l *Local) RemoveTempFile(p string) error {
	rel, err := filepath.Rel(l.dir, p)
	if err != nil || strings.HasPrefix(rel, "..") || !strings.HasPrefix(filepath.Base(p), tmpPrefix) {
		return fmt.Errorf("remove %s: not a temporary file of repository %s", p, l.dir)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
