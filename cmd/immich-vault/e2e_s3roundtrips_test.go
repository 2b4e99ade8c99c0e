package main_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/s3test"
)

// requestLog is an HTTP reverse proxy in front of the real S3 server that
// records when each request started and when its response body was
// fully sent. It forwards the request unchanged (Host header included, so
// SigV4 signatures still verify).
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
}

type loggedRequest struct {
	what       string
	start, end time.Time
}

func (l *requestLog) handler(target *url.URL) http.Handler {
	rp := httputil.NewSingleHostReverseProxy(target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := ""
		if r.URL.RawQuery != "" {
			q = "?" + r.URL.RawQuery
		}
		rec := loggedRequest{what: r.Method + " " + r.URL.Path + q, start: time.Now()}
		rp.ServeHTTP(w, r)
		rec.end = time.Now()
		l.mu.Lock()
		l.reqs = append(l.reqs, rec)
		l.mu.Unlock()
	})
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.reqs = nil
	l.mu.Unlock()
}

// chain returns the number of requests and the longest chain of requests
// each of which started after the previous one had finished: the round
// trips a command makes one after another. It is a count, not a time:
// requests that overlap never chain, whatever the machine's load (load
// can only stretch the gaps between them).
func (l *requestLog) chain() (n int, path []loggedRequest) {
	l.mu.Lock()
	reqs := append([]loggedRequest(nil), l.reqs...)
	l.mu.Unlock()
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].start.Before(reqs[j].start) })
	depth := make([]int, len(reqs))
	prev := make([]int, len(reqs))
	best := -1
	for i := range reqs {
		depth[i], prev[i] = 1, -1
		for j := range i {
			if !reqs[j].end.After(reqs[i].start) && depth[j]+1 > depth[i] {
				depth[i], prev[i] = depth[j]+1, j
			}
		}
		if best < 0 || depth[i] > depth[best] {
			best = i
		}
	}
	for i := best; i >= 0; i = prev[i] {
		path = append([]loggedRequest{reqs[i]}, path...)
	}
	return len(reqs), path
}

func describeChain(path []loggedRequest) string {
	var b strings.Builder
	t0 := time.Time{}
	if len(path) > 0 {
		t0 = path[0].start
	}
	for i, r := range path {
		fmt.Fprintf(&b, "  %2d %7.0f ms %s\n", i+1, float64(r.start.Sub(t0).Microseconds())/1000, r.what)
	}
	return b.String()
}

// TestS3SequentialRoundTrips: restore, ls and dump of the latest snapshot
// from S3 with an empty local cache, and a backup of a change into it, through a proxy that adds 80 ms of
// round-trip time, make at most a bounded number of requests one after
// another (issue 14: each sequential request costs one round trip). The
// snapshot has a deep tree (the source's absolute path, then year/month
// folders), several snapshots and several index files, so every stage of
// the path (open, index sync, snapshot list, lock, trees, packs) shows.
func TestS3SequentialRoundTrips(t *testing.T) {
	srv := s3test.StartT(t)
	e := newEnv(t)
	bucket := srv.NewBucket(t)
	e.repo = "s3:" + srv.Endpoint + "/" + bucket + "/vault"
	o := opts{extraEnv: srv.Env()}
	e.okOpts(o, "init")

	src := filepath.Join(e.dir, "src")
	for round := range 3 { // three snapshots, three index files
		for y := range 3 {
			for m := range 3 {
				d := filepath.Join(src, fmt.Sprintf("%d", 2020+y), fmt.Sprintf("%02d", m+1), fmt.Sprintf("r%d", round))
				mustMkdirAll(t, d)
				for f := range 2 {
					b := []byte(strings.Repeat(fmt.Sprintf("photo %d %d %d %d ", round, y, m, f), 2000))
					if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("IMG_%d.jpg", f)), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		e.backupOpts(o, exitOK, src)
	}

	// The client talks to the request log, which forwards through the
	// latency proxy: a request's recorded span includes its round trip, so
	// requests in flight together overlap in the log.
	_, pxAddr := latencyProxy(t, srv.Endpoint, 80*time.Millisecond)
	var log requestLog
	rec := httptest.NewServer(log.handler(&url.URL{Scheme: "http", Host: pxAddr}))
	defer rec.Close()
	e.repo = "s3:" + rec.URL + "/" + bucket + "/vault"

	file := filepath.Join(src, "2021", "02", "r1", "IMG_1.jpg")
	for _, c := range []struct {
		name string
		args []string
		max  int
	}{
		// Measured: first 46, 71 and 36; after the first round (open-time
		// reads together, trees prefetched by level) 21, 20 and 18, of
		// which about 8 were the tree's depth (the source's absolute path
		// in the test's temp dir, then year/month/round) and backup 30.
		// Now 9, 8, 8 and 12: trees read a window of their pack at a time
		// (the levels of a path are one read), the snapshot listing and
		// the marker read beside the key, no HEAD before the lock's
		// DELETE, the lock directory's files loaded together and not our
		// own. What is left is the key listing and file, its derivation,
		// the lock, the index listing after it (the lock protocol), one
		// read per tree pack met (three here: one per earlier backup),
		// the data packs, and for backup the locks listing and the writes
		// in their order (packs, index, snapshot). The bounds leave a few
		// for a loaded machine.
		{"restore", []string{"restore", "latest", "--target", filepath.Join(e.dir, "out")}, 12},
		{"ls", []string{"ls", "latest"}, 11},
		{"dump", []string{"dump", "latest", file}, 11},
		{"backup", []string{"backup", src}, 16},
	} {
		if c.name == "backup" { // something new to store
			if err := os.WriteFile(filepath.Join(src, "2020", "01", "new.jpg"), []byte(strings.Repeat("new photo ", 3000)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		e.cache = t.TempDir() // an empty local cache, as after a disaster
		log.reset()
		start := time.Now()
		e.okOpts(o, c.args...)
		wall := time.Since(start)
		n, path := log.chain()
		t.Logf("%s: %d requests, %d one after another, %v\n%s", c.name, n, len(path), wall.Round(time.Millisecond), describeChain(path))
		if len(path) > c.max {
			t.Errorf("%s from S3 with an empty cache: %d requests one after another (at most %d expected); the chain:\n%s",
				c.name, len(path), c.max, describeChain(path))
		}
	}
}
