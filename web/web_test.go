package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

const testSecret = "unit test secret"

// backupStreams stores files given as streams in one snapshot of r.
func backupStreams(t *testing.T, r *repo.Repository, files map[string][]byte, meta map[string]json.RawMessage) *repo.Snapshot {
	t.Helper()
	var streams []archiver.Stream
	for p, b := range files {
		streams = append(streams, archiver.Stream{Path: p, Reader: bytes.NewReader(b), Profile: repo.ProfileData, Done: func() error { return nil }})
	}
	sn, err := archiver.Backup(context.Background(), r, archiver.BackupOptions{Host: "nas", Streams: streams, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func newTestServer(t *testing.T, r *repo.Repository) *httptest.Server {
	t.Helper()
	s, err := New(context.Background(), r, Options{Secret: []byte(testSecret), Warn: func(m string) { t.Log("warn: " + m) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts
}

func get(t *testing.T, ts *httptest.Server, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testSecret)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// The timeline shows what the Immich record of a snapshot says, and plain
// snapshots without one.
func TestTimelineImmichRecord(t *testing.T) {
	r := repotest.New(t)
	rec := `{"version":1,"immich_version":"v1.140.1","postgres_version":"16.4","schema":"v1.136+",
		"counts":{"assets":4242,"users":3,"albums":17,"persons":9,"asset_files":8000},
		"components":["database","library","upload","thumbs","profile"],"upload_location":"/srv/immich",
		"db_mode":"docker","dump":"/.immich-vault/database.sql","dump_bytes":10,"skip_generated":true,"quiesce":"none","dump_seconds":1}`
	im := backupStreams(t, r, map[string][]byte{"/.immich-vault/database.sql": []byte("-- dump\n")}, map[string]json.RawMessage{"immich": json.RawMessage(rec)})
	plain := backupStreams(t, r, map[string][]byte{"/data/a.txt": []byte("a\n")}, nil)
	ts := newTestServer(t, r)
	resp, body := get(t, ts, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	page := string(body)
	for _, want := range []string{
		`id="snap-` + im.ID().Short() + `"`, `id="snap-` + plain.ID().Short() + `"`,
		"Immich v1.140.1", "PostgreSQL 16.4", "4242 assets", "3 users", "17 albums", "9 people",
		`<span class="comp">thumbs</span>`, "thumbnails not included", "complete",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	// Newest first.
	if strings.Index(page, plain.ID().Short()) > strings.Index(page, im.ID().Short()) {
		t.Error("timeline is not newest first")
	}
}

// fileReader serves any range of a multi-blob file identically, seeking
// backwards and forwards.
func TestFileReaderSeek(t *testing.T) {
	r := repotest.New(t)
	rnd := rand.New(rand.NewSource(7))
	data := make([]byte, 7<<20+333)
	rnd.Read(data)
	sn := backupStreams(t, r, map[string][]byte{"/big": data}, nil)
	st := newStore(context.Background(), r, func(string) {})
	defer st.lock.close()
	n, err := st.node(context.Background(), sn, []string{"big"})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Content) < 2 {
		t.Fatalf("want a multi-blob file, got %d blobs", len(n.Content))
	}
	f := st.open(context.Background(), n)
	if end, _ := f.Seek(0, io.SeekEnd); end != int64(len(data)) {
		t.Fatalf("SeekEnd = %d, want %d", end, len(data))
	}
	for i := 0; i < 50; i++ {
		off := rnd.Int63n(int64(len(data)))
		l := rnd.Int63n(3 << 20)
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, l)
		k, err := io.ReadFull(f, got)
		want := data[off:min(off+l, int64(len(data)))]
		if !bytes.Equal(got[:k], want) || (err != nil && int64(k) != int64(len(want))) {
			t.Fatalf("read %d bytes at %d: got %d bytes (%v), identical=%v", l, off, k, err, bytes.Equal(got[:k], want))
		}
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Error("seek before the start accepted")
	}
}

func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8470": true, "127.0.0.2:1": true, "[::1]:80": true, "localhost:0": true, "LOCALHOST:0": true,
		"0.0.0.0:80": false, ":80": false, "[::]:80": false, "10.0.0.5:80": false, "192.168.1.2:80": false,
		"[fe80::1%eth0]:80": false, "nas.local:80": false, "127.0.0.1": false,
	} {
		err := CheckAddr(addr, false)
		if (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v, want ok=%v", addr, err, ok)
		}
		if !ok && addr != "127.0.0.1" && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("CheckAddr(%q) = %v, want ErrNotLoopback", addr, err)
		}
		if addr != "127.0.0.1" && CheckAddr(addr, true) != nil {
			t.Errorf("CheckAddr(%q, allowRemote) refused", addr)
		}
	}
	for host, ok := range map[string]bool{"localhost:8470": true, "127.0.0.1:1": true, "[::1]:1": true, "127.0.0.1": true,
		"evil.example:8470": false, "192.168.1.2": false, "": false, "localhost.evil.example": false} {
		if loopbackHost(host) != ok {
			t.Errorf("loopbackHost(%q) != %v", host, ok)
		}
	}
}

func TestSplitPath(t *testing.T) {
	good := map[string][]string{"": nil, "/": nil, "a": {"a"}, "/a/b/": {"a", "b"}, "a/..b/c..": {"a", "..b", "c.."}, "a\\..\\b": {"a\\..\\b"}}
	for p, want := range good {
		got, err := splitPath(p)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("splitPath(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"..", "a/..", "../a", "a/./b", "a//b", "a/\x00", "/..", "a/../../etc"} {
		if _, err := splitPath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("splitPath(%q) accepted", p)
		}
	}
}

// Host names other than loopback ones are refused (DNS rebinding) unless
// remote access was allowed.
func TestHostHeaderChecked(t *testing.T) {
	r := repotest.New(t)
	ts := newTestServer(t, r)
	resp, _ := get(t, ts, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / as 127.0.0.1: %s", resp.Status)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.Host = "rebound.evil.example"
	req.Header.Set("Authorization", "Bearer "+testSecret)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host rebound.evil.example: want 421, got %s", resp.Status)
	}
}
