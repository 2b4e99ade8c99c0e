package s3_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/immich-vault/immich-vault/internal/s3test"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
	"github.com/immich-vault/immich-vault/repo/backend/s3"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

var prefixSeq atomic.Int64

func newBackend(t *testing.T, srv *s3test.Server, bucket string, mutate func(*s3.Config)) *s3.Backend {
	t.Helper()
	cfg := s3.Config{
		Endpoint:  srv.Endpoint,
		Bucket:    bucket,
		Prefix:    fmt.Sprintf("repo-%d", prefixSeq.Add(1)),
		Region:    srv.Region,
		PathStyle: true,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		// Small parts so the conformance suite's 20 MiB file goes multipart.
		MultipartThreshold: 8 << 20,
		PartSize:           s3.MinPartSize,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	be, err := s3.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func TestConformance(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.NewBucket(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, srv, bucket, nil) })
}

func TestWrongSecret(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.NewBucket(t)
	be := newBackend(t, srv, bucket, func(c *s3.Config) { c.SecretKey = "wrong-secret" })
	ctx := context.Background()
	_, err := be.Stat(ctx, backend.Handle{Type: backend.MarkerFile})
	if !errors.Is(err, s3.ErrAuth) {
		t.Fatalf("Stat with a wrong secret: %v, want ErrAuth", err)
	}
	err = be.Save(ctx, backend.Handle{Type: backend.IndexFile, Name: backendtest.Name(1)}, backend.NewByteReader([]byte("x")))
	if !errors.Is(err, s3.ErrAuth) {
		t.Fatalf("Save with a wrong secret: %v, want ErrAuth", err)
	}
	var p interface{ Permanent() bool }
	if !errors.As(err, &p) || !p.Permanent() {
		t.Fatalf("auth error %v is not marked permanent", err)
	}
}

func TestPagedListing(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.NewBucket(t)
	be := newBackend(t, srv, bucket, nil)
	ctx := context.Background()
	if err := be.Create(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 1100 // more than one ListObjectsV2 page (1000)
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- be.Save(ctx, backend.Handle{Type: backend.LockFile, Name: backendtest.Name(uint64(i))}, backend.NewByteReader([]byte{byte(i)}))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	if err := be.List(ctx, backend.LockFile, func(fi backend.FileInfo) error {
		seen[fi.Name] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("listed %d files, want %d", len(seen), n)
	}
}

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in                       string
		endpoint, bucket, prefix string
		pathStyle, wantErr       bool
	}{
		{in: "s3:http://127.0.0.1:9000/bucket", endpoint: "http://127.0.0.1:9000", bucket: "bucket", pathStyle: true},
		{in: "s3:https://s3.example.com/b/some/prefix/", endpoint: "https://s3.example.com", bucket: "b", prefix: "some/prefix", pathStyle: true},
		{in: "s3:mybucket/x", bucket: "mybucket", prefix: "x"},
		{in: "s3:mybucket", bucket: "mybucket"},
		{in: "s3:http://127.0.0.1:9000/", wantErr: true},
		{in: "s3:http://user:pw@host/b", wantErr: true},
		{in: "s3:", wantErr: true},
		{in: "/local/path", wantErr: true},
	}
	for _, tc := range tests {
		cfg, err := s3.ParseLocation(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if cfg.Endpoint != tc.endpoint || cfg.Bucket != tc.bucket || cfg.Prefix != tc.prefix || cfg.PathStyle != tc.pathStyle {
			t.Errorf("%q = %+v", tc.in, cfg)
		}
	}
}
