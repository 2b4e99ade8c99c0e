package immich

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Problem kinds.
const (
	ProblemMissing    = "missing"    // referenced file does not exist
	ProblemCorrupted  = "corrupted"  // SHA-1 differs from asset.checksum
	ProblemUnmapped   = "unmapped"   // path outside UPLOAD_LOCATION and every external mount
	ProblemUnreadable = "unreadable" // exists but could not be read
)

// Problem is one failed check.
type Problem struct {
	Kind     string `json:"kind"`
	FileKind string `json:"file_kind"` // original, thumbnail, ...
	DBPath   string `json:"db_path"`
	HostPath string `json:"host_path,omitempty"`
	AssetID  string `json:"asset_id,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	Checksums bool    // compare SHA-1 of originals with asset.checksum
	Workers   int     // parallel checks (0: 2×GOMAXPROCS)
	Expected  *Counts // counts recorded at backup time (nil: not compared)
	// Generated reports missing generated files (thumbnails, previews,
	// transcodes, faces) as problems; otherwise they are only counted, as
	// Immich regenerates them.
	Generated bool
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Schema           string    `json:"schema"`
	Counts           Counts    `json:"counts"`
	Expected         *Counts   `json:"expected_counts,omitempty"`
	CountMismatches  []string  `json:"count_mismatches"`
	Referenced       int64     `json:"referenced_files"`
	Present          int64     `json:"present_files"`
	Hashed           int64     `json:"hashed_files"`
	HashedBytes      int64     `json:"hashed_bytes"`
	MissingGenerated int64     `json:"missing_generated"`
	Problems         []Problem `json:"problems"`
	OK               bool      `json:"ok"`
}

// generatedKinds are files Immich can regenerate.
var generatedKinds = map[string]bool{
	"thumbnail": true, "preview": true, "fullsize": true, "encoded_video": true, "face": true,
}

// Verify checks that every file the catalog references exists in src (paths
// mapped through cfg), optionally that originals still hash to their
// recorded SHA-1 (in parallel), and that counts match the expected ones.
func Verify(ctx context.Context, cat *Catalog, cfg *Config, src FileSource, o VerifyOptions) (*VerifyReport, error) {
	rep := &VerifyReport{Schema: cat.Schema, Counts: cat.Counts, Expected: o.Expected, CountMismatches: []string{}, Problems: []Problem{}}
	if o.Expected != nil {
		e, g := *o.Expected, cat.Counts
		for _, c := range []struct {
			name string
			want int64
			got  int64
		}{{"assets", e.Assets, g.Assets}, {"users", e.Users, g.Users}, {"albums", e.Albums, g.Albums}, {"persons", e.Persons, g.Persons}, {"asset_files", e.AssetFiles, g.AssetFiles}} {
			if c.want != c.got {
				rep.CountMismatches = append(rep.CountMismatches, fmt.Sprintf("%s: %d recorded at backup, %d now", c.name, c.want, c.got))
			}
		}
	}
	workers := o.Workers
	if workers <= 0 {
		workers = 2 * runtime.GOMAXPROCS(0)
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		jobs = make(chan Ref)
	)
	add := func(p Problem) {
		mu.Lock()
		rep.Problems = append(rep.Problems, p)
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for ref := range jobs {
				hp, ok := cfg.HostPath(ref.Path)
				p := Problem{FileKind: ref.Kind, DBPath: ref.Path, HostPath: hp, AssetID: ref.AssetID}
				if !ok {
					p.Kind, p.Detail = ProblemUnmapped, "not under UPLOAD_LOCATION nor any external-library mount of the compose file"
					add(p)
					continue
				}
				if _, err := src.Stat(ctx, hp); err != nil {
					if ctx.Err() != nil {
						return
					}
					if errors.Is(err, os.ErrNotExist) {
						if generatedKinds[ref.Kind] && !o.Generated {
							atomic.AddInt64(&rep.MissingGenerated, 1)
							continue
						}
						p.Kind = ProblemMissing
					} else {
						p.Kind, p.Detail = ProblemUnreadable, err.Error()
					}
					add(p)
					continue
				}
				atomic.AddInt64(&rep.Present, 1)
				if !o.Checksums || ref.Checksum == "" {
					continue
				}
				sum, n, err := hashFile(ctx, src, hp, buf)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					p.Kind, p.Detail = ProblemUnreadable, err.Error()
					add(p)
					continue
				}
				atomic.AddInt64(&rep.Hashed, 1)
				atomic.AddInt64(&rep.HashedBytes, n)
				if sum != ref.Checksum {
					p.Kind, p.Detail = ProblemCorrupted, fmt.Sprintf("SHA-1 %s, database says %s", sum, ref.Checksum)
					add(p)
				}
			}
		}()
	}
	for _, r := range cat.Refs {
		rep.Referenced++
		select {
		case jobs <- r:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	sort.Slice(rep.Problems, func(i, j int) bool {
		a, b := rep.Problems[i], rep.Problems[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.DBPath < b.DBPath
	})
	rep.OK = len(rep.Problems) == 0 && len(rep.CountMismatches) == 0
	return rep, nil
}

func hashFile(ctx context.Context, src FileSource, p string, buf []byte) (string, int64, error) {
	f, err := src.Open(ctx, p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha1.New()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
