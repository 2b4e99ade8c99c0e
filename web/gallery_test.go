package web

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// synthLibrary is a synthetic Immich snapshot: a dump of n assets (two
// users, an album of every 10th asset, a person on every 7th), thumbnails
// in the snapshot for the newest withThumbs, asset 0 without thumbnails but
// with a JPEG original, asset 1 without thumbnails and a HEIC original.
type synthLibrary struct {
	sn     *repo.Snapshot
	ids    []string // newest first
	thumbs map[string][]byte
	origs  map[string][]byte
	sums   map[string]string
}

func synthID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func newSynthLibrary(t *testing.T, r *repo.Repository, n, withThumbs int) *synthLibrary {
	t.Helper()
	lib := &synthLibrary{thumbs: map[string][]byte{}, origs: map[string][]byte{}, sums: map[string]string{}}
	files := map[string][]byte{}
	u1, u2 := "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
	var asset, af, aa, face strings.Builder
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rnd := rand.New(rand.NewSource(1))
	for i := range n {
		id := synthID(i)
		lib.ids = append(lib.ids, id)
		owner := u1
		if i%2 == 1 {
			owner = u2
		}
		ext, typ := ".jpg", "IMAGE"
		if i == 1 {
			ext = ".heic"
		}
		orig := fmt.Sprintf("/data/upload/%s/%s/%s/%s%s", owner, id[0:2], id[2:4], id, ext)
		var content []byte
		if i < withThumbs || i == 0 {
			if i == 0 {
				img := image.NewRGBA(image.Rect(0, 0, 640, 480))
				for y := range 480 {
					for x := range 640 {
						img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
					}
				}
				var b bytes.Buffer
				jpeg.Encode(&b, img, nil)
				content = b.Bytes()
			} else {
				content = make([]byte, 2000+rnd.Intn(2000))
				rnd.Read(content)
			}
			files["/srv/immich"+strings.TrimPrefix(orig, "/data")] = content
			lib.origs[id] = content
		}
		sum := sha1.Sum(content)
		lib.sums[id] = hex.EncodeToString(sum[:])
		taken := base.Add(-time.Duration(i) * time.Hour).Format("2006-01-02 15:04:05+00")
		fmt.Fprintf(&asset, "%s\t%s\t%s\t%s\tIMG_%06d%s\t\\\\x%s\tsha1\t%s\t%s\t\\N\t\\N\ttimeline\t\\N\n", id, owner, typ, orig, i, ext, lib.sums[id], taken, taken)
		if i < withThumbs && i > 1 {
			tp := fmt.Sprintf("/data/thumbs/%s/%s/%s/%s_thumbnail.webp", owner, id[0:2], id[2:4], id)
			pp := fmt.Sprintf("/data/thumbs/%s/%s/%s/%s_preview.jpeg", owner, id[0:2], id[2:4], id)
			tb := make([]byte, 8000+rnd.Intn(4000))
			rnd.Read(tb)
			files["/srv/immich"+strings.TrimPrefix(tp, "/data")] = tb
			files["/srv/immich"+strings.TrimPrefix(pp, "/data")] = tb[:4000]
			lib.thumbs[id] = tb
			fmt.Fprintf(&af, "f%d\t%s\tthumbnail\t%s\n", i, id, tp)
			fmt.Fprintf(&af, "g%d\t%s\tpreview\t%s\n", i, id, pp)
		}
		if i%10 == 0 {
			fmt.Fprintf(&aa, "bbbbbbbb-0000-4000-8000-000000000001\t%s\n", id)
		}
		if i%7 == 0 {
			fmt.Fprintf(&face, "x%d\t%s\tcccccccc-0000-4000-8000-000000000001\t\\N\n", i, id)
		}
	}
	dump := "-- synthetic\n" +
		"COPY public.album (id, \"albumName\", \"ownerId\") FROM stdin;\nbbbbbbbb-0000-4000-8000-000000000001\tTens\t" + u1 + "\n\\.\n" +
		"COPY public.album_asset (\"albumId\", \"assetId\") FROM stdin;\n" + aa.String() + "\\.\n" +
		"COPY public.asset (id, \"ownerId\", type, \"originalPath\", \"originalFileName\", checksum, \"checksumAlgorithm\", \"fileCreatedAt\", \"fileModifiedAt\", \"livePhotoVideoId\", \"stackId\", visibility, \"deletedAt\") FROM stdin;\n" + asset.String() + "\\.\n" +
		"COPY public.asset_face (id, \"assetId\", \"personId\", \"deletedAt\") FROM stdin;\n" + face.String() + "\\.\n" +
		"COPY public.asset_file (id, \"assetId\", type, path) FROM stdin;\n" + af.String() + "\\.\n" +
		"COPY public.person (id, \"ownerId\", name) FROM stdin;\ncccccccc-0000-4000-8000-000000000001\t" + u1 + "\tSevens\n\\.\n" +
		"COPY public.\"user\" (id, email, name) FROM stdin;\n" + u1 + "\tadmin@example.com\tAdmin\n" + u2 + "\tbob@example.com\tBob\n\\.\n"
	files["/srv/immich/.immich-vault/database.sql"] = []byte(dump)
	rec := fmt.Sprintf(`{"version":1,"immich_version":"v3.1.0","schema":"v1.136+","counts":{"assets":%d,"users":2,"albums":1,"persons":1},
		"components":["database","upload_location"],"upload_location":"/srv/immich","db_mode":"docker","dump":"/srv/immich/.immich-vault/database.sql","quiesce":"none"}`, n)
	lib.sn = backupStreams(t, r, files, map[string]json.RawMessage{"immich": json.RawMessage(rec)})
	return lib
}

func newGalleryServer(t *testing.T, r *repo.Repository, o Options) *httptest.Server {
	t.Helper()
	o.Secret = []byte(testSecret)
	o.Warn = func(m string) { t.Log("warn: " + m) }
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	s, err := New(context.Background(), r, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts
}

var thumbRE = regexp.MustCompile(`<img src="(/s/[0-9a-f]+/thumb/[^"]+)"`)

func TestGalleryPages(t *testing.T) {
	r := repotest.New(t)
	lib := newSynthLibrary(t, r, 450, 300)
	root := t.TempDir()
	ts := newGalleryServer(t, r, Options{RestoreRoot: root})
	short := lib.sn.ID().Short()
	base := "/s/" + short

	resp, body := get(t, ts, base+"/gallery/")
	if resp.StatusCode != 200 {
		t.Fatalf("gallery: %s\n%s", resp.Status, body)
	}
	thumbs := thumbRE.FindAllStringSubmatch(string(body), -1)
	if len(thumbs) != thumbsPerPage || !strings.Contains(string(body), `<span id="count">450</span>`) {
		t.Fatalf("%d thumbnails on page 1", len(thumbs))
	}
	// Newest first: asset 0, then 1...
	if !strings.HasSuffix(thumbs[0][1], lib.ids[0]) || !strings.HasSuffix(thumbs[199][1], lib.ids[199]) {
		t.Errorf("order: %s ... %s", thumbs[0][1], thumbs[199][1])
	}
	// Page 3 holds the last 50.
	_, body = get(t, ts, base+"/gallery/?page=3")
	if n := len(thumbRE.FindAllString(string(body), -1)); n != 50 {
		t.Errorf("page 3: %d thumbnails", n)
	}
	// Filters.
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"album=bbbbbbbb-0000-4000-8000-000000000001", 45},
		{"person=cccccccc-0000-4000-8000-000000000001", 65},
		{"user=aaaaaaaa-0000-4000-8000-000000000002", 200}, // page 1 of 225
		{"album=bbbbbbbb-0000-4000-8000-000000000001&person=cccccccc-0000-4000-8000-000000000001", 7},
		{"after=2023-12-31&before=2023-12-31", 24}, // assets 1..24 (2024-01-01 00:00 is asset 0)
	} {
		_, body := get(t, ts, base+"/gallery/?"+tc.q)
		if n := len(thumbRE.FindAllString(string(body), -1)); n != tc.want {
			t.Errorf("%s: %d thumbnails, want %d", tc.q, n, tc.want)
		}
	}
	if resp, _ := get(t, ts, base+"/gallery/?after=yesterday"); resp.StatusCode != 400 {
		t.Errorf("bad date: %s", resp.Status)
	}
	// Thumbnails: the snapshot's bytes; asset 0 (JPEG original, no
	// thumbnail) decoded and scaled; asset 1 (HEIC) a placeholder.
	resp, b := get(t, ts, base+"/thumb/"+lib.ids[5])
	if resp.StatusCode != 200 || !bytes.Equal(b, lib.thumbs[lib.ids[5]]) || resp.Header.Get("Content-Type") != "image/webp" {
		t.Errorf("thumb: %s %s %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(b))
	}
	resp, b = get(t, ts, base+"/thumb/"+lib.ids[0])
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Width != 250 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("decoded thumb: %v %+v %s", err, cfg, resp.Header.Get("Content-Type"))
	}
	resp, b = get(t, ts, base+"/thumb/"+lib.ids[1])
	if resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(b, []byte("<svg")) {
		t.Errorf("placeholder: %s %q", resp.Header.Get("Content-Type"), b)
	}
	if resp, _ := get(t, ts, base+"/thumb/nonexistent"); resp.StatusCode != 404 {
		t.Errorf("unknown asset: %s", resp.Status)
	}
	// Asset page and original download.
	resp, body = get(t, ts, base+"/asset/"+lib.ids[70])
	if resp.StatusCode != 200 || !strings.Contains(string(body), lib.sums[lib.ids[70]]) || !strings.Contains(string(body), "Tens") || !strings.Contains(string(body), "Sevens") {
		t.Errorf("asset page: %s\n%s", resp.Status, body)
	}
	resp, b = get(t, ts, base+"/original/"+lib.ids[70])
	if s := sha1.Sum(b); resp.StatusCode != 200 || hex.EncodeToString(s[:]) != lib.sums[lib.ids[70]] || !strings.Contains(resp.Header.Get("Content-Disposition"), "IMG_000070.jpg") {
		t.Errorf("original: %s %s", resp.Status, resp.Header.Get("Content-Disposition"))
	}
	// Restore the album into a folder under the restore root.
	post := func(form url.Values) (*http.Response, string) {
		req, _ := http.NewRequest("POST", ts.URL+base+"/restore", strings.NewReader(form.Encode()))
		req.Header.Set("Authorization", "Bearer "+testSecret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	album := "bbbbbbbb-0000-4000-8000-000000000001"
	resp, page := post(url.Values{"album": {album}, "folder": {"tens/2024"}})
	// Incomplete (15 originals are not in the snapshot): said by the status
	// and the page.
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(page, "15 of 45") {
		t.Fatalf("restore: %s\n%s", resp.Status, page)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "tens", "2024"))
	// Album: every 10th of 450 = 45 assets, 30 of which (i < 300) have
	// their original in the snapshot; the others are reported.
	if len(ents) != 30 || !strings.Contains(page, "Not restored") {
		t.Errorf("%d files restored\n%s", len(ents), page)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(root, "tens", "2024", e.Name()))
		s := sha1.Sum(b)
		var i int
		fmt.Sscanf(e.Name(), "IMG_%06d", &i)
		if hex.EncodeToString(s[:]) != lib.sums[synthID(i)] {
			t.Errorf("%s: wrong content", e.Name())
		}
	}
	// Folder names that leave the root, and a symlink on the way: refused.
	os.Symlink(t.TempDir(), filepath.Join(root, "link"))
	for _, f := range []string{"../escape", "/tmp/abs", "a/../../b", "", "link/x", `a\b`, "./a"} {
		if resp, page := post(url.Values{"album": {album}, "folder": {f}}); resp.StatusCode != 400 {
			t.Errorf("folder %q: %s\n%s", f, resp.Status, page)
		}
	}
	if resp, _ := post(url.Values{"album": {"nope"}, "folder": {"x"}}); resp.StatusCode != 404 {
		t.Errorf("unknown album: %s", resp.Status)
	}
	// A snapshot compared with itself: no change.
	resp, body = get(t, ts, "/diff?a="+short+"&b="+short)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<span id="n-added">0</span>`) || !strings.Contains(string(body), "No album changed") {
		t.Errorf("diff: %s\n%s", resp.Status, body)
	}
	// A newer snapshot of the same library with 10 more assets (one of
	// them in the album): 10 added, the album 45 → 46; the order of the
	// parameters does not matter.
	newer := newSynthLibrary(t, r, 460, 300)
	for _, q := range []string{"a=" + short + "&b=" + newer.sn.ID().Short(), "a=" + newer.sn.ID().Short() + "&b=" + short} {
		resp, body = get(t, ts, "/diff?"+q)
		page := string(body)
		if resp.StatusCode != 200 || !strings.Contains(page, `<span id="n-added">10</span>`) || !strings.Contains(page, `<span id="n-removed">0</span>`) ||
			!strings.Contains(page, `<span id="n-changed">0</span>`) || !strings.Contains(page, "45 → 46 (+1 −0)") || !strings.Contains(page, "IMG_000459.jpg") {
			t.Errorf("diff %s: %s\n%s", q, resp.Status, page)
		}
	}
}

// Without a restore root the restore action is refused (403) and nothing
// is written.
func TestGalleryRestoreDisabled(t *testing.T) {
	r := repotest.New(t)
	lib := newSynthLibrary(t, r, 20, 20)
	ts := newGalleryServer(t, r, Options{})
	req, _ := http.NewRequest("POST", ts.URL+"/s/"+lib.sn.ID().Short()+"/restore", strings.NewReader("album=bbbbbbbb-0000-4000-8000-000000000001&folder=x"))
	req.Header.Set("Authorization", "Bearer "+testSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("restore without a root: %s", resp.Status)
	}
}

// TestGalleryPageTime measures a gallery page of 200 thumbnails of a
// 100,000-asset snapshot from a local repository: the first request
// (which indexes the dump), then the page and its 200 thumbnails cold
// (thumbnail cache empty, six connections as a browser opens) and warm.
// The target is 1 s for a page with its thumbnails.
func TestGalleryPageTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-asset snapshot")
	}
	r := repotest.New(t)
	lib := newSynthLibrary(t, r, 100_000, 400)
	ts := newGalleryServer(t, r, Options{})
	base := "/s/" + lib.sn.ID().Short()
	t0 := time.Now()
	get(t, ts, base+"/gallery/")
	index := time.Since(t0)
	pageTime := func(p int) (time.Duration, time.Duration) {
		t0 := time.Now()
		resp, body := get(t, ts, fmt.Sprintf("%s/gallery/?page=%d", base, p))
		html := time.Since(t0)
		thumbs := thumbRE.FindAllStringSubmatch(string(body), -1)
		if resp.StatusCode != 200 || len(thumbs) != 200 {
			t.Fatalf("page %d: %s, %d thumbnails", p, resp.Status, len(thumbs))
		}
		jobs := make(chan string)
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := range jobs {
					resp, b := get(t, ts, u)
					if resp.StatusCode != 200 || len(b) == 0 {
						t.Errorf("%s: %s", u, resp.Status)
					}
				}
			}()
		}
		for _, m := range thumbs {
			jobs <- m[1]
		}
		close(jobs)
		wg.Wait()
		return html, time.Since(t0)
	}
	html1, cold := pageTime(2) // page 2: its thumbnails were never read
	html2, warm := pageTime(2)
	t.Logf("100,000 assets: first gallery request (dump indexed) %v; page of 200 thumbnails cold: HTML %v, with thumbnails %v; warm: HTML %v, with thumbnails %v",
		index.Round(time.Millisecond), html1.Round(time.Millisecond), cold.Round(time.Millisecond), html2.Round(time.Millisecond), warm.Round(time.Millisecond))
	if cold > 10*time.Second {
		t.Errorf("a cold page with its thumbnails took %v (target 1 s on an idle machine)", cold)
	}
}
