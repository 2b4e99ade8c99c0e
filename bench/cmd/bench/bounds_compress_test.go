package main

import (
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestColdBoundCompressD: corpus D's cold-backup bound uses the zstd rate
// measured on D's own chunks (ceiling.CompressTree) instead of the
// ceiling's SQL text rate, and falls back to the latter when D's was not
// measured. Rates are the 12:02 UTC bench's ceiling (issue 14: D's bound
// was 4.01 s at 111 MB/s of SQL text; D's mix, 10 % media that is not
// compressed and binaries that compress faster than text, goes through
// zstd at about 1.5× that rate per core).
func TestColdBoundCompressD(t *testing.T) {
	rates := ceiling.Rates{ReadCached: 19145e6, ReadDisk: 4263e6, Chunk: 2887e6, Hash: 3139e6, Compress: 111e6, Encrypt: 4503e6, WriteCached: 4579e6, WriteFsync: 1340e6}
	const bytes = 806379451
	fl := floors{Read: 730 * time.Millisecond, ReadWorkers: 8}
	newScen := func() *scenario {
		return &scenario{Bytes: bytes, RepoSize: map[string]int64{"immich-vault": 375_600_000}}
	}

	// Not measured: the SQL text rate, as before.
	rep := &report{Machine: map[string]string{"cores": "2"}, Rates: rates}
	sql := newScen()
	setColdBound(rep, sql, "D", fl)
	ratio := storedRatio(sql)
	want := durationFor(bytes, rates.CompressibleLimit(2, ratio, true).CPU)
	if sql.Bound != want || !strings.Contains(sql.BoundNote, "SQL text") || !strings.Contains(sql.BoundNote, "cpu-bound") {
		t.Fatalf("without D's own rate: bound %v (%s), want %v from SQL text, cpu-bound", sql.Bound, sql.BoundNote, want)
	}

	// Measured: 806 MB through the compression step in 4.7 s on one core.
	rep.Compress = map[string]ceiling.CompressResult{"D": {Bytes: bytes, Stored: 392e6, Compressed: 726e6, Time: 4700 * time.Millisecond}}
	own := newScen()
	setColdBound(rep, own, "D", fl)
	rd := rates
	rd.Compress = float64(bytes) / 4.7
	want = durationFor(bytes, rd.CompressibleLimit(2, ratio, true).CPU)
	if d := own.Bound - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("with D's own rate: bound %v, want %v (%s)", own.Bound, want, own.BoundNote)
	}
	if own.Bound >= sql.Bound {
		t.Errorf("D's own rate (%.0f MB/s) is faster than SQL text's (111 MB/s) but the bound did not shrink: %v, SQL text %v", rd.Compress/1e6, own.Bound, sql.Bound)
	}
	if !strings.Contains(own.BoundNote, "own chunks: 172 MB/s") {
		t.Errorf("note %q does not name D's measured rate", own.BoundNote)
	}

	// Other corpora ignore it.
	rep.Compress["A"] = ceiling.CompressResult{Bytes: bytes, Time: time.Millisecond}
	a := &scenario{Bytes: bytes, RepoSize: map[string]int64{}}
	setColdBound(rep, a, "A", fl)
	if strings.Contains(a.BoundNote, "compressible pipeline at") {
		t.Errorf("corpus A got a compressible bound: %s", a.BoundNote)
	}
}
