package web

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/internal/immichtest"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// TestGalleryUploadIntoImmich: with an Immich URL and API key in the
// server's options, the gallery uploads a selection (person "Sevens")
// into that Immich — here internal/immichtest's double of Immich's upload
// and album API — from a logged-in session with its CSRF token: the asset
// Immich already has is skipped, the others arrive with the dump's
// SHA-1, and the album holding one of them is recreated. Without the
// token, or on a server without that configuration (whatever URL or key
// the request carries), nothing is uploaded.
func TestGalleryUploadIntoImmich(t *testing.T) {
	r := repotest.New(t)
	lib := newSynthLibrary(t, r, 30, 30)
	base := "/s/" + lib.sn.ID().Short()
	person := "cccccccc-0000-4000-8000-000000000001"
	api := immichtest.StartAPI(t)
	api.AddAsset(lib.origs[synthID(7)], "IMG_000007.jpg") // already in Immich

	// A server without the configuration refuses, whatever the request says.
	plain := newGalleryServer(t, r, Options{RestoreRoot: t.TempDir()})
	c, csrf := sessionClient(t, plain.URL)
	resp, err := c.PostForm(plain.URL+base+"/restore", url.Values{"csrf": {csrf}, "into": {"immich"}, "person": {person},
		"url": {api.URL}, "immich_url": {api.URL}, "api_key": {api.APIKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(api.Assets) != 1 {
		t.Fatalf("upload on a server without Immich configured: %s, %d assets in Immich", resp.Status, len(api.Assets))
	}
	_, body := get(t, plain, base+"/gallery/?person="+person)
	if strings.Contains(string(body), `id="upload-form"`) {
		t.Errorf("the gallery offers an upload without an Immich configured")
	}

	ts := newGalleryServer(t, r, Options{ImmichURL: api.URL, ImmichAPIKey: api.APIKey})
	_, body = get(t, ts, base+"/gallery/?person="+person)
	if !strings.Contains(string(body), `id="upload-form"`) || !strings.Contains(string(body), api.URL) {
		t.Fatalf("gallery filtered by person: no upload form:\n%s", body)
	}
	c, csrf = sessionClient(t, ts.URL)
	post := formPoster(t, c, ts.URL+base+"/restore")
	if resp, page := post(url.Values{"into": {"immich"}, "person": {person}}); resp.StatusCode != http.StatusForbidden || len(api.Assets) != 1 {
		t.Fatalf("upload without the CSRF token: %s, %d assets in Immich\n%s", resp.Status, len(api.Assets), page)
	}
	resp, page := post(url.Values{"csrf": {csrf}, "into": {"immich"}, "person": {person}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `Uploaded person “Sevens” into Immich`) || !strings.Contains(page, "4 uploaded · 1 already in Immich") {
		t.Fatalf("upload: %s\n%s", resp.Status, page)
	}
	for _, n := range []struct {
		i    int
		name string
	}{{0, "IMG_000000.jpg"}, {7, "IMG_000007.jpg"}, {14, "IMG_000014.jpg"}, {21, "IMG_000021.jpg"}, {28, "IMG_000028.jpg"}} {
		got := api.ByName(n.name)
		if len(got) != 1 {
			t.Errorf("%s: %d copies in Immich, want 1", n.name, len(got))
			continue
		}
		if s := sha1.Sum(got[0].Content); hex.EncodeToString(s[:]) != lib.sums[synthID(n.i)] {
			t.Errorf("%s: content in Immich differs from the dump's checksum", n.name)
		}
	}
	if len(api.Assets) != 5 {
		t.Errorf("%d assets in Immich, want 5 (only the person's)", len(api.Assets))
	}
	al := api.Album("Tens")
	if al == nil || len(al.Assets) != 1 || al.Assets[0] != api.ByName("IMG_000000.jpg")[0].ID {
		t.Errorf("album Tens in Immich: %+v, want it recreated with IMG_000000.jpg", al)
	}
}
