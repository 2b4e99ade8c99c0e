// Package ceiling measures what one core of this machine can do for each
// stage of the backup pipeline (read, chunk, hash, compress, encrypt,
// write) and derives the throughput limit of the whole pipeline for a core
// count, so that benchmark figures can be read as a fraction of what is
// physically possible. Measure is single-goroutine (the calling goroutine is
// locked to its thread); it is not safe to run two Measure calls at once.
package ceiling

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
)

// Rates are single-core throughputs in bytes per second; 0 means not measured.
type Rates struct {
	ReadCached   float64 // read(2) of a file in the page cache
	ReadDisk     float64 // read(2) after dropping the page cache (0 if impossible)
	Chunk        float64 // chunker.Chunker (repository "data" profile)
	Hash         float64 // keyed BLAKE3 (crypto.Key.BlobID), 1 MiB blobs
	Compress     float64 // zstd (repository settings) on compressible text
	Encrypt      float64 // crypto.Seal with EncryptCipher, 1 MiB blobs
	WriteCached  float64 // write(2) into the page cache, no fsync
	WriteFsync   float64 // write(2) + fsync
	DropCachesOK bool
	// EncryptCipher is the cipher Encrypt measured: the one a new
	// repository gets on this machine (crypto.DefaultCipher, what
	// `init --encryption auto` chooses).
	EncryptCipher crypto.Cipher
}

// Options for Measure.
type Options struct {
	Dir         string          // scratch directory on the disk under test
	Size        int             // bytes per CPU stage (default 256 MiB)
	DiskSize    int             // bytes written and read back for the disk stages (default 1 GiB)
	Rounds      int             // measurements per stage; the best is kept (default 3)
	Compessible []byte          // sample of compressible data (e.g. a SQL dump); synthesized if nil
	DropCaches  func() bool     // drops the page cache; nil or false: ReadDisk not measured
	Log         func(string)    // progress, may be nil
	Params      *chunker.Params // chunker parameters (default: repository "data" profile)
}

// Measure runs every stage Rounds times (default 3) and keeps each stage's
// best rate: a ceiling is what the machine can do, and on a shared machine
// the slower rounds measure the neighbours.
func Measure(o Options) (Rates, error) {
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	var best Rates
	for i := 0; i < o.Rounds; i++ {
		r, err := measureOnce(o)
		if err != nil {
			return best, err
		}
		best.ReadCached = max(best.ReadCached, r.ReadCached)
		best.ReadDisk = max(best.ReadDisk, r.ReadDisk)
		best.Chunk = max(best.Chunk, r.Chunk)
		best.Hash = max(best.Hash, r.Hash)
		best.Compress = max(best.Compress, r.Compress)
		best.Encrypt = max(best.Encrypt, r.Encrypt)
		best.EncryptCipher = r.EncryptCipher
		best.WriteCached = max(best.WriteCached, r.WriteCached)
		best.WriteFsync = max(best.WriteFsync, r.WriteFsync)
		best.DropCachesOK = r.DropCachesOK
	}
	return best, nil
}

func measureOnce(o Options) (Rates, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r Rates
	if o.Size == 0 {
		o.Size = 256 << 20
	}
	if o.DiskSize == 0 {
		o.DiskSize = 1 << 30
	}
	logf := func(f string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(f, a...))
		}
	}
	data := make([]byte, o.Size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	key, err := crypto.NewRandomKey()
	if err != nil {
		return r, err
	}
	// The data AEAD of a repository created here by default.
	r.EncryptCipher = crypto.DefaultCipher()
	if key, err = key.WithCipher(r.EncryptCipher); err != nil {
		return r, err
	}

	// write, cached then fsync'd
	path := filepath.Join(o.Dir, "ceiling.tmp")
	defer os.Remove(path)
	for _, sync := range []bool{false, true} {
		os.Remove(path)
		if o.DropCaches != nil {
			o.DropCaches()
		}
		f, err := os.Create(path)
		if err != nil {
			return r, fmt.Errorf("create scratch file: %w", err)
		}
		n := o.Size // cached: small enough to stay under the dirty-page limits
		if sync {
			n = o.DiskSize
		}
		start := time.Now()
		for off := 0; off < n; off += 1 << 20 {
			b := data[off%len(data):]
			if _, err := f.Write(b[:min(1<<20, len(b), n-off)]); err != nil {
				f.Close()
				return r, fmt.Errorf("write scratch file: %w", err)
			}
		}
		if sync {
			if err := f.Sync(); err != nil {
				f.Close()
				return r, fmt.Errorf("fsync scratch file: %w", err)
			}
		}
		d := time.Since(start)
		f.Close()
		if sync {
			r.WriteFsync = rate(n, d)
		} else {
			r.WriteCached = rate(n, d)
		}
	}
	logf("write: %.0f MB/s cached, %.0f MB/s with fsync", r.WriteCached/1e6, r.WriteFsync/1e6)

	readAll := func() (time.Duration, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		start := time.Now()
		for {
			_, err := f.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	if o.DropCaches != nil && o.DropCaches() {
		r.DropCachesOK = true
		d, err := readAll()
		if err != nil {
			return r, fmt.Errorf("read scratch file: %w", err)
		}
		r.ReadDisk = rate(o.DiskSize, d)
	}
	if _, err := readAll(); err != nil { // warm
		return r, fmt.Errorf("read scratch file: %w", err)
	}
	d, err := readAll()
	if err != nil {
		return r, fmt.Errorf("read scratch file: %w", err)
	}
	r.ReadCached = rate(o.DiskSize, d)
	logf("read: %.0f MB/s cached, %.0f MB/s from disk", r.ReadCached/1e6, r.ReadDisk/1e6)

	p := repo.DefaultChunkerProfiles()[repo.ProfileData]
	if o.Params != nil {
		p = *o.Params
	}
	c, err := chunker.New(p, key.GearTable())
	if err != nil {
		return r, err
	}
	start := time.Now()
	for b := data; len(b) > 0; {
		n := c.NextSplitPoint(b)
		if n < 0 { // no split point in the rest: the stream ends here
			break
		}
		b = b[n:]
	}
	r.Chunk = rate(len(data), time.Since(start))

	start = time.Now()
	for off := 0; off < len(data); off += 1 << 20 {
		_ = key.BlobID(data[off:min(off+1<<20, len(data))])
	}
	r.Hash = rate(len(data), time.Since(start))

	dst := make([]byte, 0, 1<<20+crypto.Overhead)
	ad := pack.BlobAD(pack.BlobHandle{Type: pack.DataBlob}, pack.CompressionNone)
	start = time.Now()
	for off := 0; off < len(data); off += 1 << 20 {
		dst = crypto.Seal(key.AEAD(), dst[:0], data[off:min(off+1<<20, len(data))], ad)
	}
	r.Encrypt = rate(len(data), time.Since(start))
	logf("chunk %.0f MB/s, hash %.0f MB/s, encrypt (%s) %.0f MB/s", r.Chunk/1e6, r.Hash/1e6, r.EncryptCipher, r.Encrypt/1e6)

	text := o.Compessible
	if len(text) == 0 {
		text = synthText(64 << 20)
	}
	enc, err := repo.NewBlobEncoder(1) // the repository's own settings
	if err != nil {
		return r, err
	}
	zdst := make([]byte, 0, 1<<20)
	start = time.Now()
	for off := 0; off < len(text); off += 64 << 10 { // small-profile chunk size, as for dumps
		zdst = enc.EncodeAll(text[off:min(off+64<<10, len(text))], zdst[:0])
	}
	r.Compress = rate(len(text), time.Since(start))
	logf("compress %.0f MB/s", r.Compress/1e6)
	return r, nil
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		d = time.Nanosecond
	}
	return float64(n) / d.Seconds()
}

func synthText(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"asset", "2023-04-03 07:14:55.762850+00", "IMAGE", "/usr/src/app/upload/library/", "\\N", "t", "f", "Berlin", "0.0123457", "-0.04451"}
	b := make([]byte, 0, n)
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
		b = append(b, '\t')
		if r.IntN(12) == 0 {
			b = append(b, '\n')
		}
	}
	return b[:n]
}

// Limit is the pipeline's throughput bound for a core count.
type Limit struct {
	CPUPerCore float64 // bytes/s one core pushes through read+chunk+hash+encrypt+write (incompressible data)
	CPU        float64 // CPUPerCore × cores
	IO         float64 // disk: reading the source and writing the repository on the same device
	Bound      float64 // min(CPU, IO)
	BoundBy    string  // "cpu" or "disk"
}

// PipelineLimit returns the limit for incompressible data (media): every
// byte is read, chunked, hashed, encrypted and written once; stages run on
// all cores in parallel, so the CPU bound is cores / Σ(1/rate). When the
// source is read from disk (cold cache) and written back to the same disk,
// the I/O bound is 1/(1/ReadDisk + 1/WriteFsync); with a warm cache only
// the fsync'd write counts.
func (r Rates) PipelineLimit(cores int, coldCache bool) Limit {
	inv := func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		return 1 / x
	}
	perByte := inv(r.ReadCached) + inv(r.Chunk) + inv(r.Hash) + inv(r.Encrypt) + inv(r.WriteCached)
	var l Limit
	l.CPUPerCore = 1 / perByte
	l.CPU = l.CPUPerCore * float64(cores)
	io := inv(r.WriteFsync)
	if coldCache && r.ReadDisk > 0 {
		io += inv(r.ReadDisk)
	}
	l.IO = 1 / io
	l.Bound, l.BoundBy = l.CPU, "cpu"
	if l.IO < l.CPU {
		l.Bound, l.BoundBy = l.IO, "disk"
	}
	return l
}

// RestoreLimit returns the limit of a restore of incompressible data: every
// byte is read from the repository, decrypted (at the encrypt rate: the
// AEADs cost the same both ways), its blob hash checked and written into
// the target. The target is written into the page cache (no tool fsyncs
// restored files), so with a cold cache the disk bound is reading the
// repository: ReadDisk. ReadDisk comes from one just-written file that a
// VM's host may still cache; the bench's restore bound uses this limit's
// CPU side and the repository's own measured cold read instead.
func (r Rates) RestoreLimit(cores int, coldCache bool) Limit {
	perByte := inv(r.ReadCached) + inv(r.Encrypt) + inv(r.Hash) + inv(r.WriteCached)
	var l Limit
	l.CPUPerCore = 1 / perByte
	l.CPU = l.CPUPerCore * float64(cores)
	l.IO = r.ReadCached
	if coldCache && r.ReadDisk > 0 {
		l.IO = r.ReadDisk
	}
	l.Bound, l.BoundBy = l.CPU, "cpu"
	if l.IO < l.CPU {
		l.Bound, l.BoundBy = l.IO, "disk"
	}
	return l
}

// CompressibleLimit returns the backup limit for data that compresses to
// ratio (stored bytes / input bytes, 0 < ratio ≤ 1) with the zstd rate of
// Compress: every input byte is read, chunked, hashed and compressed; only
// the compressed bytes are encrypted and written (with fsync). Measure's
// Compress is SQL text in 64 KiB pieces, the slowest content for zstd; for
// a corpus's own mix, set Compress to CompressTree's Rate.
func (r Rates) CompressibleLimit(cores int, ratio float64, coldCache bool) Limit {
	perByte := inv(r.ReadCached) + inv(r.Chunk) + inv(r.Hash) + inv(r.Compress) + ratio*(inv(r.Encrypt)+inv(r.WriteCached))
	var l Limit
	l.CPUPerCore = 1 / perByte
	l.CPU = l.CPUPerCore * float64(cores)
	io := ratio * inv(r.WriteFsync)
	if coldCache && r.ReadDisk > 0 {
		io += inv(r.ReadDisk)
	}
	l.IO = 1 / io
	l.Bound, l.BoundBy = l.CPU, "cpu"
	if l.IO < l.CPU {
		l.Bound, l.BoundBy = l.IO, "disk"
	}
	return l
}

func inv(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return 1 / x
}
