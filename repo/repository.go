package repo

import (
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// ID is a blob or file identifier.
type ID = crypto.ID

// Options configure Open and Init. The zero value means defaults.
type Options struct {
	// CacheDir holds the local Badger caches, one subdirectory per repository
	// ID. Empty: the user cache directory (os.UserCacheDir()/immich-vault).
	CacheDir string
	// NoCache uses a temporary cache removed on Close.
	NoCache bool
	// KDF parameters for new key files (zero: crypto.DefaultKDFParams()).
	KDF crypto.KDFParams
	// PackSize for Init (zero: DefaultPackSize).
	PackSize int
	// Version for Init (zero: NewestVersion). Version 1 repositories stay
	// readable by programs older than split directories (docs/FORMAT.md §9.3).
	Version FormatVersion
	// ChunkerProfiles for Init (nil: DefaultChunkerProfiles()).
	ChunkerProfiles map[string]chunker.Params
	// Encryption for Init: the cipher of blobs, pack headers and sealed
	// files ("": crypto.DefaultCipher(), XAES-256-GCM on CPUs with AES
	// hardware, else XChaCha20-Poly1305). Open takes it from the config.
	Encryption crypto.Cipher
	// Warn receives non-fatal problems (e.g. falling back to a temporary cache).
	Warn func(msg string)
	// ShareKeyWith, for Init: use this repository's master key (and so its
	// gear table, blob-ID key and encryption keys) instead of a new random
	// one, so that blobs deduplicate and copy between the two repositories
	// without re-hashing (`init --copy-chunker-params-from`). The new
	// repository gets its own ID and key file; set ChunkerProfiles to the
	// other repository's profiles as well. Encryption is independent of
	// the other repository's: copy re-seals every blob anyway.
	ShareKeyWith *Repository
	// SnapshotsOnly, for Open: do not bring the local index cache up to
	// date, for commands that read nothing but snapshot files (listing
	// snapshots must not wait for an index of millions of blobs).
	SnapshotsOnly bool
}

// Repository is an open repository. Safe for concurrent use.
type Repository struct {
	be      backend.Backend
	key     *crypto.Key
	keyName string
	cfg     Config
	cache   *index.Cache
	tmpDir  string // temporary cache dir to remove on Close, if any
	// cacheTmp holds temporary files of cache rebuilds (next to the cache,
	// not in a possibly small tmpfs).
	cacheTmp string
	opts     Options

	enc *zstd.Encoder
	dec *zstd.Decoder

	gear     *[256]uint64
	chunkMu  sync.Mutex
	chunkers map[string][]*chunker.Chunker

	held heldLocks // locks taken through this Repository (lock.go)

	// early is the index listing (and the first index files' stored
	// bytes) that Open fetches while the password is checked; the first
	// SyncIndex of the open takes it, later ones list again.
	early *earlyFiles

	treeWins treeWindows // pack windows read for trees (treewindow.go)

	// earlySnaps is the snapshot listing (and the first snapshot files)
	// that Open fetches while the password is checked (earlysnap.go);
	// earlyCancel ends its loads at Close.
	earlySnaps  *earlyFiles
	earlyCancel context.CancelFunc

	// ownLocks holds the plaintext of the lock files this Repository
	// stored and has not removed (ID → []byte), so that reading the
	// lock directory does not load them back (lock.go).
	ownLocks sync.Map
}

// Backend returns the underlying backend.
func (r *Repository) Backend() backend.Backend { return r.be }

// Config returns the repository configuration.
func (r *Repository) Config() Config { return r.cfg }

// KeyName returns the name of the key file used to open the repository.
func (r *Repository) KeyName() string { return r.keyName }

// Cache returns the local index cache.
func (r *Repository) Cache() *index.Cache { return r.cache }

// Key returns the unlocked master key.
func (r *Repository) Key() *crypto.Key { return r.key }

func (o *Options) kdf() crypto.KDFParams {
	if o.KDF == (crypto.KDFParams{}) {
		return crypto.DefaultKDFParams()
	}
	return o.KDF
}

func (o *Options) warn(format string, args ...any) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf(format, args...))
	}
}

// Init creates a new repository in be, protected by password.
func Init(ctx context.Context, be backend.Backend, password []byte, opts Options) (*Repository, error) {
	enc := opts.Encryption
	if enc == "" {
		enc = crypto.DefaultCipher()
	}
	if _, err := crypto.ParseCipher(string(enc)); err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.MarkerFile, Name: markerFormatName}); err == nil {
		return nil, ErrRepositoryExists
	} else if !errors.Is(err, backend.ErrNotFound) {
		return nil, fmt.Errorf("stat marker: %w", err)
	}
	if err := be.Create(ctx); err != nil {
		return nil, fmt.Errorf("create repository: %w", err)
	}
	key, err := crypto.NewRandomKey()
	if opts.ShareKeyWith != nil {
		key, err = crypto.KeyFromMaster(opts.ShareKeyWith.key.Master())
	}
	if err != nil {
		return nil, err
	}
	if key, err = key.WithCipher(enc); err != nil {
		return nil, err
	}
	var rid [32]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return nil, err
	}
	version := cmp.Or(opts.Version, NewestVersion)
	cfg := Config{
		Version:     version,
		ID:          hex.EncodeToString(rid[:]),
		Created:     time.Now().UTC(),
		Chunker:     ChunkerConfig{Algorithm: chunkerAlgorithm, Profiles: opts.ChunkerProfiles},
		Compression: compressionAlgo,
		Encryption:  string(enc),
		BlobID:      blobIDAlgo,
		FileID:      fileIDAlgo,
		PackSize:    opts.PackSize,
	}
	if cfg.Chunker.Profiles == nil {
		cfg.Chunker.Profiles = DefaultChunkerProfiles()
	}
	if cfg.PackSize == 0 {
		cfg.PackSize = DefaultPackSize
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Repository{be: be, key: key, cfg: cfg, opts: opts}
	if err := r.initCodecs(); err != nil {
		return nil, err
	}
	// Write order: key file, config, and the marker last: a repository
	// without a marker is not a repository, so an interrupted init leaves
	// nothing that looks usable.
	name, err := r.saveKeyFile(ctx, key, password, opts.kdf())
	if err != nil {
		return nil, err
	}
	r.keyName = name
	cb, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.saveSealed(ctx, backend.Handle{Type: backend.ConfigFile, Name: "config"}, cb, false); err != nil {
		return nil, fmt.Errorf("save config: %w", err)
	}
	if err := be.Save(ctx, backend.Handle{Type: backend.MarkerFile, Name: markerFormatName},
		backend.NewByteReader(encodeMarker(version))); err != nil {
		return nil, fmt.Errorf("save marker: %w", err)
	}
	if err := r.openCache(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckMarker reads the plaintext marker: ErrNoRepository when missing,
// ErrUnsupportedVersion for unknown versions. It needs no password.
func CheckMarker(ctx context.Context, be backend.Backend) (Marker, error) {
	b, err := loadBounded(ctx, be, backend.Handle{Type: backend.MarkerFile, Name: markerFormatName})
	if errors.Is(err, backend.ErrNotFound) {
		return Marker{}, fmt.Errorf("%s: %w", be.Location(), ErrNoRepository)
	}
	if err != nil {
		return Marker{}, fmt.Errorf("read marker: %w", err)
	}
	return decodeMarker(b)
}

// Open opens the repository in be with password.
//
// The marker, the key files and the config are fetched at the same time
// (on S3 each request is a round trip, issue 14); errors keep their order:
// a missing or unknown marker first, then the password, then the config.
func Open(ctx context.Context, be backend.Backend, password []byte, opts Options) (_ *Repository, err error) {
	// The snapshot listing outlives Open (its loads may still be in
	// flight), until Close; not on a local file system, where a listing
	// costs no round trip.
	var snaps *earlyFiles
	var snapsCancel context.CancelFunc = func() {}
	if _, local := backend.As[backend.Spooler](be); !local {
		var sctx context.Context
		sctx, snapsCancel = context.WithCancel(ctx)
		snaps = startEarlySnapshots(sctx, be)
	}
	defer func() {
		if err != nil {
			snapsCancel()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	markerErr := make(chan error, 1)
	go func() {
		_, err := CheckMarker(ctx, be)
		markerErr <- err
	}()
	type sealed struct {
		b   []byte
		err error
	}
	config := make(chan sealed, 1)
	go func() {
		b, err := loadBounded(ctx, be, backend.Handle{Type: backend.ConfigFile, Name: "config"})
		config <- sealed{b, err}
	}()
	var early *earlyFiles
	if !opts.SnapshotsOnly {
		early = startEarlyIndex(ctx, be)
	}
	key, name, kerr := findKey(ctx, be, password)
	if err := <-markerErr; err != nil {
		return nil, err
	}
	if kerr != nil {
		return nil, kerr
	}
	c := <-config
	r, err := openWithKey(ctx, be, key, name, opts, c.b, c.err, early)
	if err != nil {
		return nil, err
	}
	r.earlySnaps, r.earlyCancel = snaps, snapsCancel
	return r, nil
}

// openWithKey opens the repository with key; cb and cerr are the config
// file's stored bytes and the error of loading them.
func openWithKey(ctx context.Context, be backend.Backend, key *crypto.Key, keyName string, opts Options, stored []byte, lerr error, early *earlyFiles) (*Repository, error) {
	r := &Repository{be: be, key: key, keyName: keyName, opts: opts, early: early}
	if err := r.initCodecs(); err != nil {
		return nil, err
	}
	if lerr != nil {
		return nil, fmt.Errorf("load config: %w", lerr)
	}
	cb, err := r.openSealed(backend.ConfigFile, stored)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if err := json.Unmarshal(cb, &r.cfg); err != nil {
		return nil, fmt.Errorf("decode config: %w: %w", err, ErrCorrupt)
	}
	if err := r.cfg.validate(); err != nil {
		return nil, err
	}
	// Everything but the config is sealed with the config's cipher.
	if r.key, err = key.WithCipher(r.cfg.cipher()); err != nil {
		return nil, err
	}
	if err := r.openCache(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// findKey tries every key file with password.
func findKey(ctx context.Context, be backend.Backend, password []byte) (*crypto.Key, string, error) {
	var names []string
	err := be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list keys: %w", err)
	}
	// Fetch the key files concurrently (a few at a time), then try them in
	// listing order as before.
	type loaded struct {
		b   []byte
		err error
	}
	files := make([]chan loaded, len(names))
	sem := make(chan struct{}, max(1, min(8, be.Properties().Connections)))
	for i, name := range names {
		files[i] = make(chan loaded, 1)
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				files[i] <- loaded{nil, ctx.Err()}
				return
			}
			b, err := loadBounded(ctx, be, backend.Handle{Type: backend.KeyFile, Name: name})
			<-sem
			files[i] <- loaded{b, err}
		}()
	}
	var firstErr error
	for i, name := range names {
		f := <-files[i]
		b, err := f.b, f.err
		if errors.Is(err, ErrCorrupt) {
			// An oversized file in keys/ is not a key: try the others.
			if firstErr == nil {
				firstErr = fmt.Errorf("key %s: %w", shortName(name), err)
			}
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("load key %s: %w", name, err)
		}
		kf, err := decodeKeyFile(b)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("key %s: %w", shortName(name), err)
			}
			continue
		}
		k, err := kf.open(password)
		if err == nil {
			return k, name, nil
		}
		if !errors.Is(err, ErrWrongPassword) && firstErr == nil {
			firstErr = fmt.Errorf("key %s: %w", shortName(name), err)
		}
	}
	if firstErr != nil && errors.Is(firstErr, ErrUnsupportedVersion) {
		return nil, "", firstErr
	}
	return nil, "", ErrWrongPassword
}

func shortName(n string) string {
	if len(n) > 8 {
		return n[:8]
	}
	return n
}

func (r *Repository) saveKeyFile(ctx context.Context, key *crypto.Key, password []byte, p crypto.KDFParams) (string, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	kek, err := crypto.DeriveKEK(password, salt, p)
	if err != nil {
		return "", err
	}
	a, err := crypto.NewAEAD(kek)
	if err != nil {
		return "", err
	}
	kf := KeyFile{
		Version:   keyFileVersion,
		Created:   time.Now().UTC(),
		KDF:       kdfAlgo,
		KDFParams: p,
		Salt:      salt,
		Data:      crypto.Seal(a, nil, key.Master(), []byte(keyFileAD)),
	}
	kf.Hostname, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		kf.Username = u.Username
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return "", err
	}
	name := crypto.Hash(b).String()
	if err := r.be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: name}, backend.NewByteReader(b)); err != nil {
		return "", fmt.Errorf("save key file: %w", err)
	}
	return name, nil
}

// NewBlobEncoder returns a zstd encoder with the repository's settings for
// blobs: zstd's default level (klauspost/compress SpeedDefault, the level
// of restic's default --compression auto), no checksum (the AEAD tag
// covers the payload), a 1 MiB window. concurrent is how many EncodeAll
// calls may run at once. The benchmark's ceiling (bench/ceiling) measures
// the compression rate with it.
func NewBlobEncoder(concurrent int) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(concurrent),
		zstd.WithEncoderCRC(false),
		zstd.WithWindowSize(1<<20),
		zstd.WithLowerEncoderMem(true))
}

func (r *Repository) initCodecs() error {
	var err error
	// One encoder per core: EncodeAll takes an encoder from a pool of
	// this size and waits when none is free, so 1 made every compressible
	// backup (dumps, sidecars, any non-media source) run on one core
	// behind the blob workers (issue 14).
	r.enc, err = NewBlobEncoder(runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	r.dec, err = zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(256<<20),
		zstd.IgnoreChecksum(true))
	if err != nil {
		return err
	}
	r.gear = r.key.GearTable()
	r.chunkers = map[string][]*chunker.Chunker{}
	return nil
}

// Close releases the cache and codecs.
func (r *Repository) Close() error {
	if r.earlyCancel != nil {
		r.earlyCancel()
	}
	var err error
	if r.cache != nil {
		err = r.cache.Close()
	}
	if r.tmpDir != "" {
		os.RemoveAll(r.tmpDir)
	}
	if r.dec != nil {
		r.dec.Close()
	}
	return err
}

// saveSealed encrypts plaintext as a repository file. The name of index,
// snapshot and lock files is the hash of the stored bytes; h.Name is used
// as given for config. It returns the stored name via h for hashed types.
func (r *Repository) sealFile(t backend.FileType, plaintext []byte, compress bool) []byte {
	var env []byte
	if compress {
		env = append([]byte{envelopeZstd}, r.enc.EncodeAll(plaintext, nil)...)
	} else {
		env = append([]byte{envelopeRaw}, plaintext...)
	}
	return crypto.Seal(r.fileAEAD(t), nil, env, fileAD(t))
}

// fileAEAD is the AEAD of sealed files of type t: the config's cipher,
// except for the config itself, which is always XChaCha20-Poly1305 under
// the data subkey (it is opened before the cipher it names is known).
func (r *Repository) fileAEAD(t backend.FileType) cipher.AEAD {
	if t == backend.ConfigFile {
		return r.key.ConfigAEAD()
	}
	return r.key.AEAD()
}

func (r *Repository) saveSealed(ctx context.Context, h backend.Handle, plaintext []byte, compress bool) error {
	sealed := r.sealFile(h.Type, plaintext, compress)
	if err := checkSealedSize(h.Type, sealed); err != nil {
		return err
	}
	return r.be.Save(ctx, h, backend.NewByteReader(sealed))
}

// saveHashed stores plaintext sealed under the hash of the stored bytes.
func (r *Repository) saveHashed(ctx context.Context, t backend.FileType, plaintext []byte) (ID, error) {
	if len(plaintext) > MaxSealedPlaintext {
		return ID{}, fmt.Errorf("%v file of %d bytes exceeds the format's plaintext limit of %d (docs/FORMAT.md §11.5)", t, len(plaintext), MaxSealedPlaintext)
	}
	sealed := r.sealFile(t, plaintext, true)
	if err := checkSealedSize(t, sealed); err != nil {
		return ID{}, err
	}
	id := crypto.Hash(sealed)
	if t == backend.SnapshotFile {
		r.earlySnaps.drop() // a later listing must show it
	}
	if err := r.be.Save(ctx, backend.Handle{Type: t, Name: id.String()}, backend.NewByteReader(sealed)); err != nil {
		return id, err
	}
	return id, nil
}

func (r *Repository) openSealed(t backend.FileType, sealed []byte) ([]byte, error) {
	env, err := crypto.Open(r.fileAEAD(t), nil, sealed, fileAD(t))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrCorrupt)
	}
	if len(env) < 1 {
		return nil, fmt.Errorf("empty envelope: %w", ErrCorrupt)
	}
	switch env[0] {
	case envelopeRaw:
		return env[1:], nil
	case envelopeZstd:
		out, err := r.dec.DecodeAll(env[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("decompress: %w: %w", err, ErrCorrupt)
		}
		if len(out) > MaxSealedPlaintext {
			return nil, fmt.Errorf("file too large: %w", ErrCorrupt)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown envelope encoding %d: %w", env[0], ErrCorrupt)
	}
}

// loadSealed reads (bounded by the kind's maximum, docs/FORMAT.md §11.5),
// checks the name of a hashed file against its content, and opens a
// sealed file.
func (r *Repository) loadSealed(ctx context.Context, h backend.Handle) ([]byte, error) {
	b, err := loadBounded(ctx, r.be, h)
	if err != nil {
		return nil, err
	}
	return r.openStored(h, b)
}

// openStored checks the name of a hashed file against its stored bytes b
// and opens it.
func (r *Repository) openStored(h backend.Handle, b []byte) ([]byte, error) {
	if h.Type != backend.ConfigFile {
		if id, perr := crypto.ParseID(h.Name); perr == nil && crypto.Hash(b) != id {
			return nil, fmt.Errorf("%v: content does not match its name: %w", h, ErrCorrupt)
		}
	}
	return r.openSealed(h.Type, b)
}

// cacheRoot returns the directory holding per-repository caches.
func (o *Options) cacheRoot() (string, error) {
	if o.CacheDir != "" {
		return o.CacheDir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set --cache-dir): %w", err)
	}
	return filepath.Join(d, "immich-vault"), nil
}

func (r *Repository) openCache(ctx context.Context) error {
	var dir string
	if !r.opts.NoCache {
		root, err := r.opts.cacheRoot()
		if err != nil {
			return err
		}
		dir = filepath.Join(root, r.cfg.ID, "index")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			r.opts.warn("cannot create cache directory %s (%v): using a temporary cache", dir, err)
			dir = ""
		}
	}
	// The cache is disposable: a directory that cannot hold it (locked,
	// broken, its file system nearly full) gives way to a temporary one,
	// and that to memory; a cache whose disk fills up meanwhile moves into
	// memory (index/space.go). Each says so once through Warn.
	copts := &index.Options{Warn: func(msg string) { r.opts.warn("%s", msg) }}
	if dir != "" {
		c, err := index.OpenCache(dir, copts)
		if err == nil {
			r.cache, r.cacheTmp = c, filepath.Dir(dir)
		} else if errors.Is(err, index.ErrCacheLocked) {
			r.opts.warn("cache %s is in use by another process: using a temporary cache", dir)
		} else {
			r.opts.warn("cannot open cache %s (%v): using a temporary cache", dir, err)
		}
	}
	if r.cache == nil {
		tmp, err := os.MkdirTemp("", "immich-vault-cache-")
		if err == nil {
			c, cerr := index.OpenCache(tmp, copts)
			if cerr == nil {
				r.cache, r.tmpDir = c, tmp
			} else {
				os.RemoveAll(tmp)
				err = cerr
			}
		}
		if err != nil {
			r.opts.warn("cannot open a temporary cache (%v): keeping the cache in memory for this run", err)
			c, err := index.OpenCache("", &index.Options{InMemory: true, Warn: copts.Warn})
			if err != nil {
				return fmt.Errorf("open in-memory cache: %w", err)
			}
			r.cache = c
		}
	}
	if r.opts.SnapshotsOnly {
		return nil
	}
	return r.SyncIndex(ctx)
}

// SyncIndex merges index files not yet in the cache. If the cache knows an
// index file that is gone from the repository (prune replaced it), the
// cache is rebuilt from scratch. Damaged index files are skipped with a
// warning (Options.Warn).
func (r *Repository) SyncIndex(ctx context.Context) error {
	// An index file listed but gone when loaded was superseded by a
	// concurrent prune or repair (docs/FORMAT.md §10.3): list again.
	for attempt := 1; ; attempt++ {
		err := r.syncIndex(ctx)
		if err == nil || attempt == 5 || !errors.Is(err, backend.ErrNotFound) || ctx.Err() != nil {
			return err
		}
	}
}

// listIndexFiles is the one listing of the index files: their IDs in ID
// order and their total size. A name that is not an index file ID is passed
// to bad (nil: skipped, not ours).
func (r *Repository) listIndexFiles(ctx context.Context, bad func(name string)) ([]ID, int64, error) {
	var ids []ID
	var total int64
	err := r.be.List(ctx, backend.IndexFile, func(fi backend.FileInfo) error {
		id, err := crypto.ParseID(fi.Name)
		if err != nil {
			if bad != nil {
				bad(fi.Name)
			}
			return nil
		}
		ids = append(ids, id)
		total += fi.Size
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list index files: %w", err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Compare(ids[j]) < 0 })
	return ids, total, nil
}

func (r *Repository) syncIndex(ctx context.Context) error {
	early := r.early
	r.early = nil
	ids, indexBytes, ok, err := early.listing()
	if !ok {
		ids, indexBytes, err = r.listIndexFiles(ctx, nil)
	}
	if err != nil {
		return err
	}
	present := make(map[ID]bool, len(ids))
	for _, id := range ids {
		present[id] = true
	}
	known, err := r.cache.IndexFiles()
	if err != nil {
		return err
	}
	for _, id := range known {
		if !present[id] {
			if err := r.cache.Reset(); err != nil {
				return fmt.Errorf("reset cache: %w", err)
			}
			break
		}
	}
	var missing []ID
	for id := range present {
		ok, err := r.cache.HasIndexFile(id)
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, id)
		}
	}
	// load returns the next missing index file that decodes, skipping
	// damaged ones: a damaged index file must not make the repository
	// unusable (check and repair need it open). It is not marked merged,
	// so every open retries it; a backup stores its blobs again rather than
	// relying on them.
	//
	// The files are fetched ahead, a window of them at a time bounded by
	// the backend's connections (on S3 each one is a round trip: issue
	// 14), and handed out in order; the window bounds how many decoded
	// files wait in memory.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sort.Slice(missing, func(i, j int) bool { return missing[i].Compare(missing[j]) < 0 })
	ahead, took := r.prefetchIndexFiles(ctx, missing, early)
	load := func() (ID, *index.File, error) {
		for len(missing) > 0 {
			id := missing[0]
			missing = missing[1:]
			res := <-ahead[0]
			ahead = ahead[1:]
			took()
			f, err := res.f, res.err
			if err != nil {
				if ctx.Err() == nil && (errors.Is(err, ErrCorrupt) || errors.Is(err, pack.ErrCorrupt)) {
					r.opts.warn("index file %s is damaged and was skipped (%v); check and repair index can fix this", id.Short(), err)
					continue
				}
				return id, nil, err
			}
			return id, f, nil
		}
		return ID{}, nil, io.EOF
	}
	if len(known) == 0 && len(missing) > 0 {
		// An empty cache (new host, deleted or reset cache): load it in key
		// order, which is many times faster than merging file by file on
		// large repositories and keeps memory flat (no compaction).
		// The load's partition files and tables take about three times
		// the index files' size: a cache whose disk lacks that (beside
		// its reserve) moves into memory first (index/space.go), and one
		// whose disk filled up during the load is loaded again there.
		if r.cache.MakeRoom(3 * indexBytes) {
			r.cacheTmp = ""
		}
		_, err := r.cache.BulkLoad(ctx, r.cacheTmp, load)
		if errors.Is(err, syscall.ENOSPC) && r.cacheTmp != "" {
			r.cache.Degrade()
			r.cacheTmp = ""
			if err := r.cache.Reset(); err != nil {
				return fmt.Errorf("reset cache: %w", err)
			}
			return r.SyncIndex(ctx)
		}
		if !errors.Is(err, index.ErrNotEmpty) {
			return err
		}
		// The cache holds metadata (e.g. the file cache): merge instead.
	}
	for {
		id, f, err := load()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := r.cache.MergeIndexFile(ctx, id, f); err != nil {
			return fmt.Errorf("merge index %s: %w", id.Short(), err)
		}
	}
}

type indexResult struct {
	f   *index.File
	err error
}

// prefetchIndexFiles starts loading ids in order, at most the backend's
// connection count (1..16) ahead of the consumer, and returns one channel
// per ID with its result. The consumer calls done after taking each
// result, which frees its place in the window (never blocking). Cancel ctx
// to stop it.
func (r *Repository) prefetchIndexFiles(ctx context.Context, ids []ID, early *earlyFiles) (out []chan indexResult, done func()) {
	out = make([]chan indexResult, len(ids))
	for i := range out {
		out[i] = make(chan indexResult, 1)
	}
	slots := make(chan struct{}, max(1, min(16, r.be.Properties().Connections)))
	go func() {
		for i, id := range ids {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for _, ch := range out[i:] {
					ch <- indexResult{nil, ctx.Err()}
				}
				return
			}
			go func() {
				var f *index.File
				var err error
				if b, ok := early.stored(id); ok {
					f, err = r.decodeIndexFile(id, b)
				} else {
					f, err = r.LoadIndexFile(ctx, id)
				}
				out[i] <- indexResult{f, err}
			}()
		}
	}()
	// done frees the slot of a result the producer started. Results filled
	// in after ctx ended took no slot, so done must not wait for one: a
	// blocking receive there hung a command interrupted while it synced
	// the index (TestSignalCampaign, copy on SIGTERM).
	return out, func() {
		select {
		case <-slots:
		default:
		}
	}
}

// LoadIndexFile loads and decodes one index file.
func (r *Repository) LoadIndexFile(ctx context.Context, id ID) (*index.File, error) {
	b, err := loadBounded(ctx, r.be, backend.Handle{Type: backend.IndexFile, Name: id.String()})
	if err != nil {
		return nil, fmt.Errorf("load index %s: %w", id.Short(), err)
	}
	return r.decodeIndexFile(id, b)
}

// decodeIndexFile checks, opens and decodes the stored bytes b of index
// file id.
func (r *Repository) decodeIndexFile(id ID, stored []byte) (*index.File, error) {
	b, err := r.openStored(backend.Handle{Type: backend.IndexFile, Name: id.String()}, stored)
	if err != nil {
		return nil, fmt.Errorf("load index %s: %w", id.Short(), err)
	}
	f, err := index.DecodeFile(b)
	if err != nil {
		return nil, fmt.Errorf("decode index %s: %w", id.Short(), err)
	}
	return f, nil
}

// SaveIndexFile encodes, seals and stores an index file.
func (r *Repository) SaveIndexFile(ctx context.Context, f *index.File) (ID, error) {
	id, err := r.saveHashed(ctx, backend.IndexFile, index.EncodeFile(f))
	if err != nil {
		return id, fmt.Errorf("save index: %w", err)
	}
	return id, nil
}

// ChunkerFor returns a chunker for profile (falling back to "data"); give it
// back with PutChunker.
func (r *Repository) ChunkerFor(profile string) (*chunker.Chunker, string, error) {
	p, ok := r.cfg.Chunker.Profiles[profile]
	if !ok {
		profile = ProfileData
		p = r.cfg.Chunker.Profiles[profile]
	}
	r.chunkMu.Lock()
	if l := r.chunkers[profile]; len(l) > 0 {
		c := l[len(l)-1]
		r.chunkers[profile] = l[:len(l)-1]
		r.chunkMu.Unlock()
		c.Reset()
		return c, profile, nil
	}
	r.chunkMu.Unlock()
	c, err := chunker.New(p, r.gear)
	return c, profile, err
}

func (r *Repository) PutChunker(profile string, c *chunker.Chunker) {
	r.chunkMu.Lock()
	r.chunkers[profile] = append(r.chunkers[profile], c)
	r.chunkMu.Unlock()
}

// LoadBlob returns the plaintext of blob h, verified against its ID.
func (r *Repository) LoadBlob(ctx context.Context, h pack.BlobHandle, buf []byte) ([]byte, error) {
	loc, ok, err := r.cache.Lookup(ctx, h)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s blob %s: %w", h.Type, h.ID.Short(), ErrBlobNotFound)
	}
	b, err := r.loadBlobAt(ctx, h, loc, buf)
	if err != nil && errors.Is(err, backend.ErrNotFound) && ctx.Err() == nil {
		// The cache may be stale: a prune (here or elsewhere) repacked the
		// blob and deleted its old pack. Re-sync from the index files and
		// look again once.
		if serr := r.SyncIndex(ctx); serr != nil {
			return nil, err
		}
		loc2, ok, lerr := r.cache.Lookup(ctx, h)
		if lerr != nil || !ok || loc2 == loc {
			return nil, err
		}
		return r.loadBlobAt(ctx, h, loc2, buf)
	}
	return b, err
}

// packSizes lists the packs in the backend with their sizes (file names
// that are not pack IDs are ignored).
func (r *Repository) packSizes(ctx context.Context) (map[ID]int64, error) {
	sizes := map[ID]int64{}
	err := r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			sizes[id] = fi.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return sizes, nil
}
