package main_test

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/s3test"
)

// TestGalleryPageTimeS3 measures a gallery page of 200 thumbnails of an
// Immich snapshot stored on the S3 test server, every cache cold (a fresh
// --cache-dir for serve: index, gallery index and thumbnails), then warm;
// directly and through a proxy adding 50 ms of round-trip time. The issue's
// target is 3 s for the cold page from S3; the test fails only beyond 60 s
// (a loaded machine) and logs the figures.
func TestGalleryPageTimeS3(t *testing.T) {
	srv := s3test.StartT(t)
	ie := newImmichEnv(t, "immich")
	bucket := srv.NewBucket(t)
	ie.env.repo = "s3:" + srv.Endpoint + "/" + bucket + "/vault"
	ie.extra = append(ie.extra, srv.Env()...)

	// 240 more assets, each with an original and a real JPEG thumbnail.
	owner := strings.TrimSpace(ie.c.MustExec(t, "immich", `SELECT id FROM "user" WHERE email = 'admin@example.com'`))
	rng := rand.New(rand.NewPCG(1, 2))
	var sql strings.Builder
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 240 {
		id := fmt.Sprintf("%08x-1111-4111-8111-%012x", i, i)
		nest := fmt.Sprintf("%s/%s/%s/%s", owner, id[0:2], id[2:4], id)
		orig := make([]byte, 6000)
		for j := range orig {
			orig[j] = byte(rng.Uint32())
		}
		mustWrite(t, filepath.Join(ie.f.Upload, "upload", nest+".jpg"), orig, 0o644)
		img := image.NewRGBA(image.Rect(0, 0, 96, 96))
		for j := 0; j < len(img.Pix); j += 4 {
			img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = byte(rng.Uint32()), byte(i), 128, 255
		}
		img.Set(0, 0, color.Black)
		var thumb bytes.Buffer
		jpeg.Encode(&thumb, img, &jpeg.Options{Quality: 90})
		mustWrite(t, filepath.Join(ie.f.Upload, "thumbs", nest+"_thumbnail.webp"), thumb.Bytes(), 0o644)
		sum := sha1.Sum(orig)
		fmt.Fprintf(&sql, `INSERT INTO asset (id, "ownerId", type, "originalPath", "originalFileName", checksum, "fileCreatedAt") VALUES ('%s','%s','IMAGE','/data/upload/%s.jpg','S3_%03d.jpg',decode('%x','hex'),'%s');`+"\n",
			id, owner, nest, i, sum, base.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339))
		fmt.Fprintf(&sql, `INSERT INTO asset_file ("assetId", type, path) VALUES ('%s','thumbnail','/data/thumbs/%s_thumbnail.webp');`+"\n", id, nest)
	}
	ie.c.MustExec(t, "immich", sql.String())
	ie.ok("init")
	ie.ok("immich", "backup", "--immich-dir", ie.dir)

	measure := func(label string, extraEnv []string) {
		cache := filepath.Join(ie.env.dir, "serve-cache-"+label)
		s := ie.env.startServeEnv(append(append([]string{}, srv.Env()...), extraEnv...), "--cache-dir", cache)
		_, body := s.get("/")
		m := regexp.MustCompile(`href="(/s/[0-9a-f]{8}/gallery/)"`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no gallery link:\n%s", body)
		}
		page := func() (time.Duration, time.Duration) {
			t0 := time.Now()
			resp, body := s.get(string(m[1]))
			html := time.Since(t0)
			thumbs := regexp.MustCompile(`<img src="(/s/[0-9a-f]+/thumb/[^"]+)"`).FindAllSubmatch(body, -1)
			if resp.StatusCode != 200 || len(thumbs) != 200 {
				t.Fatalf("gallery page: %s, %d thumbnails", resp.Status, len(thumbs))
			}
			jobs := make(chan string)
			var wg sync.WaitGroup
			for range 6 { // a browser's connections per host
				wg.Add(1)
				go func() {
					defer wg.Done()
					for u := range jobs {
						resp, b := s.get(u)
						if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/webp" || len(b) < 500 {
							t.Errorf("%s: %s %s %d bytes", u, resp.Status, resp.Header.Get("Content-Type"), len(b))
						}
					}
				}()
			}
			for _, th := range thumbs {
				jobs <- string(th[1])
			}
			close(jobs)
			wg.Wait()
			return html, time.Since(t0)
		}
		coldHTML, cold := page()
		warmHTML, warm := page()
		t.Logf("%s: page of 200 thumbnails, all caches cold (dump indexed on the way): HTML %v, with thumbnails %v; warm: HTML %v, with thumbnails %v",
			label, coldHTML.Round(time.Millisecond), cold.Round(time.Millisecond), warmHTML.Round(time.Millisecond), warm.Round(time.Millisecond))
		if cold > time.Minute {
			t.Errorf("%s: the cold page took %v", label, cold)
		}
		os.RemoveAll(cache)
	}
	measure("s3", nil)
	proxied, _ := latencyProxy(t, srv.Endpoint, 50*time.Millisecond)
	ie.env.repo = "s3:" + proxied + "/" + bucket + "/vault"
	measure("s3-50ms-rtt", nil)
}
