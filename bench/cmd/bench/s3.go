package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/immich-vault/immich-vault/bench/corpus"
	"github.com/immich-vault/immich-vault/bench/s3raw"
	"github.com/immich-vault/immich-vault/internal/netdelay"
	"github.com/immich-vault/immich-vault/internal/s3test"
)

// s3Link describes one shaped S3 setting of a run, for the report.
type s3Link struct {
	RTT              time.Duration
	Rate             float64 // bytes/s each way, shared by all connections
	Window           int     // bytes in flight per connection and direction
	Conns            int
	RawPut, RawGet   []s3raw.Result // before and after the tools
	BestPut, BestGet s3raw.Result
	Knobs            map[string]string // tool → its connection setting
}

// s3Scenarios backs up and restores a corpus-A-like library (c.S3Size)
// with every S3-capable tool through a netdelay proxy in front of one
// versitygw, at each of c.S3RTTs with bandwidth c.S3Rate each way, and
// measures the raw PUT and GET rate of the same bytes through the same
// proxy with the same number of connections (before and after the tools;
// the better one is the bound). Restores start from an empty local cache,
// as after a disaster. A tool that fails or exceeds c.S3Limit is reported
// as a run error; the others go on.
func s3Scenarios(c config, rep *report, tools []tool) error {
	ctx := context.Background()
	srv, err := s3test.Start()
	if err != nil {
		return fmt.Errorf("S3 server: %w (run scripts/deps.d/20-versitygw.sh)", err)
	}
	defer srv.Stop()
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		return err
	}
	var s3tools []tool
	for _, t := range tools {
		if _, ok := t.(s3Tool); ok {
			s3tools = append(s3tools, t)
		}
	}
	dir := filepath.Join(c.Work, "corpusS3")
	logf("generating the S3 corpus (corpus A, %d bytes)", c.S3Size)
	st, err := corpus.GenerateA(dir, c.S3Size, c.Seed+3)
	if err != nil {
		return fmt.Errorf("S3 corpus: %w", err)
	}
	defer os.RemoveAll(dir)
	bodies, err := s3raw.ReadFiles(dir)
	if err != nil {
		return err
	}
	runTimeout = c.S3Limit
	defer func() { runTimeout = 0 }()
	seq := 0
	bucket := func(client *s3.Client, what string) (string, error) {
		seq++
		name := fmt.Sprintf("bench-%s-%d-%d", what, os.Getpid(), seq)
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		return name, err
	}
	for i, rtt := range c.S3RTTs {
		px, err := netdelay.StartWith(u.Host, netdelay.Options{RTT: rtt, Rate: c.S3Rate, Window: c.S3Window})
		if err != nil {
			return err
		}
		shaped := *srv
		shaped.Endpoint = "http://" + px.Addr()
		client := shaped.Client("")
		link := &s3Link{RTT: rtt, Rate: c.S3Rate, Window: c.S3Window, Conns: c.S3Conns, Knobs: map[string]string{}}
		rep.S3 = append(rep.S3, link)
		rawRun := func() error {
			b, err := bucket(client, "raw")
			if err != nil {
				return err
			}
			put, get, err := s3raw.Measure(ctx, client, b, bodies, c.S3Conns)
			if err != nil {
				return err
			}
			link.RawPut, link.RawGet = append(link.RawPut, put), append(link.RawGet, get)
			if put.Rate() > link.BestPut.Rate() {
				link.BestPut = put
			}
			if get.Rate() > link.BestGet.Rate() {
				link.BestGet = get
			}
			logf("S3 %v: raw PUT %.1f MB/s, GET %.1f MB/s (%d connections)", rtt, put.Rate()/1e6, get.Rate()/1e6, c.S3Conns)
			return nil
		}
		if err := rawRun(); err != nil {
			px.Close()
			return fmt.Errorf("S3 raw at %v: %w", rtt, err)
		}
		ms := rtt.Milliseconds()
		shape := fmt.Sprintf("%d ms RTT, %.0f Mbit/s each way, %d connections", ms, c.S3Rate*8/1e6, c.S3Conns)
		bk := newScenario(rep, fmt.Sprintf("s3backup%d", ms), "Backup to S3, "+shape, st)
		rs := newScenario(rep, fmt.Sprintf("s3restore%d", ms), "Restore from S3 (empty local cache), "+shape, st)
		for r := 0; r < c.S3Reps; r++ {
			for _, t := range order(s3tools, r+i) {
				st3 := t.(s3Tool)
				link.Knobs[t.Name()] = st3.S3Knob()
				if err := s3Run(c, rep, st3, client, bucket, shaped, link, bk, rs, st, dir, r); err != nil {
					rep.Errors = append(rep.Errors, err.Error())
					logf("%v", err)
				}
			}
		}
		big := s3BigScenarios(c, rep, s3tools, client, bucket, shaped, link)
		if err := rawRun(); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("S3 raw at %v (second): %v", rtt, err))
		}
		if link.BestPut.Time > 0 {
			bk.Bound = time.Duration(float64(st.Bytes) / link.BestPut.Rate() * float64(time.Second))
			bk.BoundNote = fmt.Sprintf("raw PUT of the same files, %d connections: %.1f MB/s", c.S3Conns, link.BestPut.Rate()/1e6)
		}
		if link.BestGet.Time > 0 {
			rs.Bound = time.Duration(float64(st.Bytes) / link.BestGet.Rate() * float64(time.Second))
			rs.BoundNote = fmt.Sprintf("raw GET of the same files, %d connections: %.1f MB/s", c.S3Conns, link.BestGet.Rate()/1e6)
		}
		for _, x := range big {
			x.bounds(link, c.S3Conns)
		}
		px.Close()
	}
	return nil
}

// s3Run is one tool's backup and restore at one shaping.
func s3Run(c config, rep *report, t s3Tool, client *s3.Client, bucket func(*s3.Client, string) (string, error),
	srv s3test.Server, link *s3Link, bk, rs *scenario, st corpus.Stats, dir string, r int) error {
	return s3RunFrom(c, t, client, bucket, srv, link, bk, rs, st, dir, "", r)
}

// s3RunFrom is s3Run; with stdinName set, dir is one file backed up
// through standard input under that name (a database dump, as `immich
// backup` stores it).
func s3RunFrom(c config, t s3Tool, client *s3.Client, bucket func(*s3.Client, string) (string, error),
	srv s3test.Server, link *s3Link, bk, rs *scenario, st corpus.Stats, dir, stdinName string, r int) error {
	ms := link.RTT.Milliseconds()
	b, err := bucket(client, strings.ReplaceAll(t.Name(), "-", ""))
	if err != nil {
		return fmt.Errorf("S3 %dms %s: create bucket: %w", ms, t.Name(), err)
	}
	// Emptied afterwards: three tools' copies of a 4 GiB file would
	// otherwise stay on the server's disk until the end of the run.
	defer func() {
		if err := emptyBucket(context.Background(), client, b); err != nil {
			logf("S3: empty bucket %s: %v", b, err)
		}
	}()
	handle := repoPath(c, t, fmt.Sprintf("s3-%s-%dms-%d", bk.Key, ms, r))
	removeRepo(handle)
	if err := os.MkdirAll(filepath.Dir(handle), 0o755); err != nil {
		return err
	}
	defer removeRepo(handle)
	rm := remote{Endpoint: srv.Endpoint, Bucket: b, Prefix: "repo", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Conns: link.Conns}
	if err := t.InitS3(handle, rm); err != nil {
		return fmt.Errorf("S3 %dms %s init: %w", ms, t.Name(), err)
	}
	dropCaches()
	var m measurement
	if stdinName != "" {
		m, err = t.BackupStdin(handle, stdinName, dir)
	} else {
		m, err = t.Backup(handle, dir)
	}
	if err != nil {
		return fmt.Errorf("S3 %dms %s backup: %w", ms, t.Name(), err)
	}
	bk.Runs[t.Name()] = append(bk.Runs[t.Name()], m)
	logf("S3 %dms %s %-12s rep %d: %6.2fs cpu %6.2fs rss %4d MiB", ms, bk.Key, t.Name(), r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20)
	if err := t.ClearCache(handle); err != nil {
		return err
	}
	target := filepath.Join(c.Work, "restore-s3-"+t.Name())
	os.RemoveAll(target)
	defer os.RemoveAll(target)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	dropCaches()
	m, err = t.Restore(handle, target)
	if err != nil {
		return fmt.Errorf("S3 %dms %s restore: %w", ms, t.Name(), err)
	}
	got, files, err := treeBytes(target)
	if err != nil {
		return err
	}
	if got != st.Bytes || files != st.Files {
		return fmt.Errorf("S3 %dms restore with %s: restored %d files / %d bytes, corpus has %d / %d", ms, t.Name(), files, got, st.Files, st.Bytes)
	}
	rs.Runs[t.Name()] = append(rs.Runs[t.Name()], m)
	logf("S3 %dms %s %-12s rep %d: %6.2fs cpu %6.2fs rss %4d MiB", ms, rs.Key, t.Name(), r+1, m.Wall.Seconds(), m.CPU.Seconds(), m.MaxRSS>>20)
	return nil
}

// emptyBucket deletes every object of bucket b, a page at a time.
func emptyBucket(ctx context.Context, client *s3.Client, b string) error {
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(b), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("%d objects not deleted, the first: %s", len(out.Errors), aws.ToString(out.Errors[0].Message))
		}
	}
	return nil
}
