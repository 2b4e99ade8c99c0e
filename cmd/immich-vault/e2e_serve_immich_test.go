package main_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/internal/immichtest"
)

// TestServeToImmichNeedsKey: serve --to-immich without IMMICH_API_KEY is
// refused before anything is served (the key never comes from a request).
func TestServeToImmichNeedsKey(t *testing.T) {
	e := newEnv(t)
	e.ok("init")
	r := e.runOpts(opts{extraEnv: []string{"IMMICH_VAULT_SERVE_PASSWORD=" + serveSecret, "IMMICH_API_KEY="}},
		"serve", "--listen", "127.0.0.1:0", "--to-immich", "http://127.0.0.1:1")
	if r.code == 0 || !strings.Contains(r.stderr, "IMMICH_API_KEY") || strings.Contains(r.stdout, "serving") {
		t.Errorf("serve --to-immich without a key: want a refusal naming IMMICH_API_KEY:\n%v", r)
	}
}

// TestServeUploadAlbumIntoImmich drives serve --to-immich through the
// binary on a real Immich snapshot (PostgreSQL dump): a logged-in session
// uploads the album "Holiday" from the gallery into internal/immichtest's
// double of Immich's upload and album API (key from IMMICH_API_KEY); the
// originals arrive with the dump's SHA-1 and the album is recreated.
func TestServeUploadAlbumIntoImmich(t *testing.T) {
	ie, sums := newGalleryImmich(t)
	api := immichtest.StartAPI(t)
	s := ie.env.startServeEnv([]string{"IMMICH_API_KEY=" + api.APIKey}, "--to-immich", api.URL)
	_, body := s.get("/")
	m := regexp.MustCompile(`href="/s/([0-9a-f]{8})/gallery/"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no gallery link on the timeline:\n%s", body)
	}
	gal := "/s/" + string(m[1])
	_, body = s.get(gal + "/gallery/")
	am := regexp.MustCompile(`<option value="([^"]+)">Holiday`).FindSubmatch(body)
	if am == nil {
		t.Fatalf("no album Holiday in the gallery:\n%s", body)
	}
	_, body = s.get(gal + "/gallery/?album=" + url.QueryEscape(string(am[1])))
	if !bytes.Contains(body, []byte(`id="upload-form"`)) {
		t.Fatalf("no upload form on the album's gallery page:\n%s", body)
	}
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	csrf := login(t, s, c)
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	resp, b := s.do(c, "POST", gal+"/restore", strings.NewReader(url.Values{"into": {"immich"}, "album": {string(am[1])}}.Encode()), hdr)
	if resp.StatusCode != http.StatusForbidden || len(api.ByName("IMG_0001.jpg")) != 0 {
		t.Fatalf("upload without the CSRF token: %s\n%s", resp.Status, b)
	}
	resp, b = s.do(c, "POST", gal+"/restore", strings.NewReader(url.Values{"csrf": {csrf}, "into": {"immich"}, "album": {string(am[1])}}.Encode()), hdr)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("Uploaded album “Holiday” into Immich")) {
		t.Fatalf("upload: %s\n%s\nserver stderr:\n%s", resp.Status, b, s.errText())
	}
	got := api.ByName("IMG_0001.jpg")
	if len(got) != 1 {
		t.Fatalf("IMG_0001.jpg: %d copies in Immich, want 1\n%s", len(got), b)
	}
	if sum := sha1.Sum(got[0].Content); hex.EncodeToString(sum[:]) != sums["IMG_0001.jpg"] {
		t.Errorf("IMG_0001.jpg in Immich differs from the original")
	}
	if al := api.Album("Holiday"); al == nil || len(al.Assets) == 0 {
		t.Errorf("album Holiday not recreated in Immich: %+v\n%s", al, b)
	}
}
