package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/immich-vault/immich-vault/bench/corpus"
	"github.com/immich-vault/immich-vault/internal/s3test"
)

// s3Pair is a backup scenario and its restore, whose bounds come from
// the link's raw PUT and GET rates.
type s3Pair struct{ bk, rs *scenario }

// bounds sets the pair's bounds from the link's best raw rates (measured
// on the S3 corpus: the link's rate, whatever the files).
func (x s3Pair) bounds(link *s3Link, conns int) {
	if link.BestPut.Time > 0 {
		x.bk.Bound = time.Duration(float64(x.bk.Bytes) / link.BestPut.Rate() * float64(time.Second))
		x.bk.BoundNote = fmt.Sprintf("the raw PUT rate of the S3 corpus, %d connections: %.1f MB/s", conns, link.BestPut.Rate()/1e6)
	}
	if link.BestGet.Time > 0 {
		x.rs.Bound = time.Duration(float64(x.rs.Bytes) / link.BestGet.Rate() * float64(time.Second))
		x.rs.BoundNote = fmt.Sprintf("the raw GET rate of the S3 corpus, %d connections: %.1f MB/s", conns, link.BestGet.Rate()/1e6)
	}
}

// s3BigScenarios runs, at c.S3BigRTT only, what a disaster recovery of an
// Immich server moves through the link besides the photos: its database
// dump (c.S3DumpSize of pg_dump-like SQL text, corpus C's generator,
// backed up through stdin as `immich backup` stores it, then restored
// with an empty cache), and one large file (c.S3BigFile of random bytes:
// a video) backed up and restored. `immich restore` itself is not run:
// it needs a snapshot made by `immich backup` from a live Immich
// database and loads it into PostgreSQL, which the peers have no
// counterpart of; its database load reads the dump's blobs the way
// restore and dump do. Each tool gets a new repository per file.
func s3BigScenarios(c config, rep *report, tools []tool, client *s3.Client, bucket func(*s3.Client, string) (string, error),
	srv s3test.Server, link *s3Link) []s3Pair {
	if link.RTT != c.S3BigRTT || (c.S3DumpSize <= 0 && c.S3BigFile <= 0) {
		return nil
	}
	ms := link.RTT.Milliseconds()
	shape := fmt.Sprintf("%d ms RTT, %.0f Mbit/s each way, %d connections", ms, c.S3Rate*8/1e6, c.S3Conns)
	var out []s3Pair
	fail := func(err error) {
		rep.Errors = append(rep.Errors, err.Error())
		logf("%v", err)
	}
	each := func(key, what, file, stdinName string, st corpus.Stats) {
		x := s3Pair{
			bk: newScenario(rep, fmt.Sprintf("s3%sbackup%d", key, ms), "Backup to S3 of "+what+", "+shape, st),
			rs: newScenario(rep, fmt.Sprintf("s3%srestore%d", key, ms), "Restore from S3 (empty local cache) of "+what+", "+shape, st),
		}
		out = append(out, x)
		src := file
		if stdinName == "" {
			src = filepath.Dir(file)
		}
		for r := 0; r < c.S3Reps; r++ {
			for _, t := range order(tools, r) {
				if err := s3RunFrom(c, t.(s3Tool), client, bucket, srv, link, x.bk, x.rs, st, src, stdinName, r); err != nil {
					fail(err)
				}
			}
		}
	}
	if c.S3DumpSize > 0 {
		dir := filepath.Join(c.Work, "s3dump")
		// Day 1 of corpus C is 6.85 KB of dump per asset (65.3 MiB for
		// 10 000 assets).
		rows := max(1, int(c.S3DumpSize/6847))
		logf("generating a %d-row database dump for S3", rows)
		if _, err := corpus.GenerateC(dir, 1, rows, c.Seed+5); err != nil {
			fail(fmt.Errorf("S3 dump corpus: %w", err))
		} else {
			file := filepath.Join(dir, corpus.DayName(1))
			if fi, err := os.Stat(file); err != nil {
				fail(err)
			} else {
				each("dump", fmt.Sprintf("a %.0f MiB database dump via stdin", float64(fi.Size())/(1<<20)), file, "immich-db.sql",
					corpus.Stats{Files: 1, Bytes: fi.Size()})
			}
		}
		os.RemoveAll(dir)
	}
	if c.S3BigFile > 0 {
		dir := filepath.Join(c.Work, "s3big")
		file := filepath.Join(dir, "VID_0001.mp4")
		logf("generating a %d-byte file for S3", c.S3BigFile)
		if err := randomFile(file, c.S3BigFile, c.Seed+7); err != nil {
			fail(fmt.Errorf("S3 large file: %w", err))
		} else {
			each("big", fmt.Sprintf("one %.0f MiB file", float64(c.S3BigFile)/(1<<20)), file, "", corpus.Stats{Files: 1, Bytes: c.S3BigFile})
		}
		os.RemoveAll(dir)
	}
	return out
}

// randomFile writes n incompressible bytes (ChaCha8 from seed) to path.
func randomFile(path string, n int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var s [32]byte
	s[0], s[1], s[2], s[3] = byte(seed), byte(seed>>8), byte(seed>>16), byte(seed>>24)
	rng := rand.NewChaCha8(s)
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		rng.Read(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			f.Close()
			return err
		}
		left -= k
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
