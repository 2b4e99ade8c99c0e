package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/immich-vault/immich-vault/internal/netdelay"
	"github.com/immich-vault/immich-vault/internal/s3test"
)

// readerDump is a dump-like stream: SQL lines (compressible) between runs
// of random bytes (stored as they are), big enough for several 16 MiB packs.
func readerDump(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%d\tupload/library/admin/%04d/IMG_%06d.jpg\t2024-06-01 12:00:00+00\n", i, i%977, i)
		if i%64 == 0 {
			b.Write(randomBytes(uint64(i), 96<<10))
		}
	}
	return b.Bytes()[:size]
}

// TestS3DumpMultiPack: dump of a file spread over several packs of an S3
// repository is bit-identical, directly and through a proxy adding 20 ms
// of round-trip time (the reader's parallel, merged range requests).
func TestS3DumpMultiPack(t *testing.T) {
	srv := s3test.StartT(t)
	e := newEnv(t)
	bucket := srv.NewBucket(t)
	e.repo = "s3:" + srv.Endpoint + "/" + bucket + "/vault"
	o := opts{extraEnv: srv.Env()}
	e.okOpts(o, "init")
	data := readerDump(48 << 20)
	o.stdin = bytes.NewReader(data)
	e.backupOpts(o, exitOK, "--stdin", "--stdin-filename", "db.sql")
	o.stdin = nil

	// Several packs hold the file.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var packs int
	pg := s3.NewListObjectsV2Paginator(srv.Client(""), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("vault/data/")})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		packs += len(page.Contents)
	}
	if packs < 2 {
		t.Fatalf("%d pack(s) in the bucket: the test needs a file over several packs", packs)
	}

	p := ""
	for _, l := range strings.Split(e.okOpts(o, "ls", "latest").stdout, "\n") {
		if strings.HasSuffix(l, "/db.sql") {
			p = l
		}
	}
	if p == "" {
		t.Fatal("ls latest does not list db.sql")
	}
	r := e.okOpts(o, "dump", "latest", p)
	if !bytes.Equal([]byte(r.stdout), data) {
		t.Fatalf("dump from S3: %d bytes differing from the %d backed up (%d packs)", len(r.stdout), len(data), packs)
	}

	proxied, _ := latencyProxy(t, srv.Endpoint, 20*time.Millisecond)
	e.repo = "s3:" + proxied + "/" + bucket + "/vault"
	start := time.Now()
	r = e.okOpts(o, "dump", "latest", p)
	if !bytes.Equal([]byte(r.stdout), data) {
		t.Fatalf("dump through a 20 ms proxy: %d bytes differing from the %d backed up", len(r.stdout), len(data))
	}
	t.Logf("%d MiB over %d packs: dump through a 20 ms RTT proxy took %v", len(data)>>20, packs, time.Since(start))
}

// latencyProxy starts a proxy that adds rtt of round-trip time between
// the client and the server at endpoint (an http URL), closed when the
// test ends. It returns endpoint with the proxy's address in place of the
// server's, and that address.
func latencyProxy(t *testing.T, endpoint string, rtt time.Duration) (proxied, addr string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	px, err := netdelay.Start(u.Host, rtt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return strings.Replace(endpoint, u.Host, px.Addr(), 1), px.Addr()
}
