package ceiling

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo"
)

// CompressResult is CompressTree's measurement of a corpus's own content.
type CompressResult struct {
	Bytes      int64         // input bytes (every regular file)
	Stored     int64         // bytes after compression (skipped blobs at full size)
	Compressed int64         // input bytes that went through zstd
	Time       time.Duration // one core's time for the compression decisions and zstd
}

// Rate is the corpus's per-core compression rate in input bytes per
// second: what Rates.Compress is for SQL text, for this corpus's mix.
func (c CompressResult) Rate() float64 { return rate(int(c.Bytes), c.Time) }

// Ratio is the stored bytes over the input bytes.
func (c CompressResult) Ratio() float64 {
	if c.Bytes == 0 {
		return 1
	}
	return float64(c.Stored) / float64(c.Bytes)
}

// CompressTree splits every regular file under root into the chunks a
// backup makes of it (repository "data" profile, or p if non-nil) and times
// what a backup's compression step does with each, on one core: the
// repository's skip test for already-compressed data (repo.Compressible),
// zstd with the repository's encoder (repo.NewBlobEncoder), and keeping
// the chunk uncompressed when zstd saves less than 3 %. Reading and
// chunking are not timed. Each chunk is timed rounds times (at least once)
// and its best time kept, as Measure keeps each stage's best. A corpus mixes text, binaries and media, each with its own zstd
// rate (and media none at all): the SQL text of Rates.Compress is only one
// of them (issue 14: corpus D's bound).
func CompressTree(root string, p *chunker.Params, rounds int) (CompressResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	params := repo.DefaultChunkerProfiles()[repo.ProfileData]
	if p != nil {
		params = *p
	}
	key, err := crypto.NewRandomKey()
	if err != nil {
		return CompressResult{}, err
	}
	c, err := chunker.New(params, key.GearTable())
	if err != nil {
		return CompressResult{}, err
	}
	enc, err := repo.NewBlobEncoder(1)
	if err != nil {
		return CompressResult{}, err
	}
	defer enc.Close()
	rounds = max(1, rounds)
	var res CompressResult
	rbuf := make([]byte, 4<<20)
	var chunk, dst []byte
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		c.Reset()
		cr := chunker.NewReader(f, c, rbuf)
		for {
			chunk, err = cr.Next(chunk[:0])
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			res.Bytes += int64(len(chunk))
			// Each chunk's best time: a neighbour's burst on a shared
			// machine slows some rounds, never speeds one up.
			var best time.Duration
			var stored int
			var tried bool
			for i := range rounds {
				start := time.Now()
				stored, tried = len(chunk), false
				if len(chunk) >= 64 && repo.Compressible(chunk) {
					tried = true
					dst = enc.EncodeAll(chunk, dst[:0])
					if len(dst) < len(chunk)*97/100 {
						stored = len(dst)
					}
				}
				if d := time.Since(start); i == 0 || d < best {
					best = d
				}
			}
			res.Time += best
			res.Stored += int64(stored)
			if tried {
				res.Compressed += int64(len(chunk))
			}
		}
	})
	if err != nil {
		return res, fmt.Errorf("compress tree %s: %w", root, err)
	}
	return res, nil
}
