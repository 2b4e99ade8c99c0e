package s3_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/internal/s3test"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
	"github.com/immich-vault/immich-vault/repo/backend/s3"
)

// TestRemoveMissingOK: a Remove whose context comes from
// backend.MissingOK sends one DELETE and no HEAD (one round trip, issue
// 14), removes an existing file, and gives nil or ErrNotFound for a
// missing one; a plain Remove keeps the contract (ErrNotFound for a
// missing file, which needs the HEAD). Against the real server: its
// DeleteObject answers 204 for a missing key, as AWS's does.
func TestRemoveMissingOK(t *testing.T) {
	srv := s3test.Require(t)
	bucket := srv.NewBucket(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var methods []string
	rp := httputil.NewSingleHostReverseProxy(target)
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	defer px.Close()
	be := newBackend(t, srv, bucket, func(c *s3.Config) { c.Endpoint = px.URL })
	ctx := context.Background()
	h := backend.Handle{Type: backend.LockFile, Name: backendtest.Name(7)}
	if err := be.Save(ctx, h, backend.NewByteReader([]byte("lock"))); err != nil {
		t.Fatal(err)
	}
	sent := func(f func()) []string {
		mu.Lock()
		methods = nil
		mu.Unlock()
		f()
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), methods...)
	}
	got := sent(func() {
		if err := be.Remove(backend.MissingOK(ctx), h); err != nil {
			t.Fatalf("remove an existing file: %v", err)
		}
	})
	if len(got) != 1 || got[0] != http.MethodDelete {
		t.Errorf("Remove with MissingOK sent %v, want one DELETE", got)
	}
	if _, err := be.Stat(ctx, h); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("after Remove with MissingOK, Stat: %v, want ErrNotFound", err)
	}
	got = sent(func() {
		if err := be.Remove(backend.MissingOK(ctx), h); err != nil && !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("remove a missing file with MissingOK: %v, want nil or ErrNotFound", err)
		}
	})
	if len(got) != 1 {
		t.Errorf("Remove of a missing file with MissingOK sent %v, want one request", got)
	}
	if err := be.Remove(ctx, h); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("plain Remove of a missing file: %v, want ErrNotFound", err)
	}
}
