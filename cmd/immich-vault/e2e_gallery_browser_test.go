package main_test

// The gallery of an Immich snapshot in a real headless chromium (the
// DevTools helpers of e2e_serve_browser_test.go): log in, timeline, the
// snapshot's gallery, filter by album, open an asset, download its original
// and compare its SHA-1 with the dump's checksum, restore the album into a
// folder from the page and check the files. Screenshots go to the artifact
// directory under gallery-browser/.

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGalleryBrowser(t *testing.T) {
	bin := findChromium(t)
	ie, sums := newGalleryImmich(t)
	root := filepath.Join(ie.env.dir, "restores")
	mustMkdirAll(t, root)
	s := ie.env.startServe("--restore-root", root)
	art := artifactDir(t, "gallery-browser")
	downloads := t.TempDir()
	c := startChromium(t, bin, downloads)
	base := strings.TrimSuffix(s.url, "/")

	c.navigate(base + "/")
	c.waitFor("the login form", "document.querySelector('#login-form')")
	c.eval("document.querySelector('#password').focus()")
	c.call(c.session, "Input.insertText", map[string]any{"text": serveSecret}, nil)
	c.act("document.querySelector('#login-submit').click()")
	c.waitFor("the timeline with a gallery link", "document.querySelector('#timeline .gallery-link')")
	c.screenshot(filepath.Join(art, "01-timeline.png"))

	// The gallery: every asset on Immich's timeline (the live photo's
	// hidden video part is not one of them).
	c.act("document.querySelector('#timeline .gallery-link').click()")
	c.waitFor("the gallery", "document.querySelector('#grid')")
	if n := string(c.eval("document.querySelectorAll('#grid img').length")); n != "6" {
		t.Errorf("gallery shows %s thumbnails, want 6 (7 assets, one hidden)", n)
	}
	c.waitFor("the thumbnails shown", "[...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)")
	c.screenshot(filepath.Join(art, "02-gallery.png"))

	// Filter by album.
	c.eval(`(() => { const s = document.querySelector('#f-album');
		for (const o of s.options) { if (o.text.startsWith('Holiday')) s.value = o.value; } return s.value; })()`)
	c.act("document.querySelector('#f-apply').click()")
	c.waitFor("the album's two assets", "location.search.includes('album=') && document.querySelectorAll('#grid img').length === 2")
	c.screenshot(filepath.Join(art, "03-album.png"))
	albumURL := strings.Trim(string(c.eval("location.href")), `"`)

	// Open IMG_0001.jpg: its page shows the dump's checksum.
	c.act(`document.querySelector('#grid a[title^="IMG_0001.jpg"]').click()`)
	c.waitFor("the asset page with its preview", "document.querySelector('#meta') && document.querySelector('#download-original') && document.querySelector('#preview').naturalWidth > 0")
	var checksum string
	json.Unmarshal(c.eval("document.querySelector('#m-checksum').innerText"), &checksum)
	if checksum != sums["IMG_0001.jpg"] {
		t.Errorf("asset page checksum %q, the original's SHA-1 is %s", checksum, sums["IMG_0001.jpg"])
	}
	c.screenshot(filepath.Join(art, "04-asset.png"))

	// Download the original: its SHA-1 is the dump's checksum.
	c.eval("document.querySelector('#download-original').click()")
	got := waitDownload(t, filepath.Join(downloads, "IMG_0001.jpg"), -1)
	if s := sha1.Sum(got); hex.EncodeToString(s[:]) != checksum {
		t.Errorf("downloaded original: SHA-1 %x, the dump says %s", s, checksum)
	}

	// Restore the album into a folder from the gallery page.
	c.navigate(albumURL)
	c.waitFor("the restore form", "document.querySelector('#restore-folder')")
	c.eval("document.querySelector('#restore-folder').focus()")
	c.call(c.session, "Input.insertText", map[string]any{"text": "holiday"}, nil)
	c.screenshot(filepath.Join(art, "05-restore-form.png"))
	c.act("document.querySelector('#restore-submit').click()")
	c.waitFor("the restore result", "document.querySelector('#restore-result')")
	c.screenshot(filepath.Join(art, "06-restored.png"))
	if h := string(c.eval("document.querySelector('#restore-result').innerText")); !strings.Contains(h, "Restored album") {
		t.Errorf("restore result: %s", h)
	}
	files := folderSums(t, filepath.Join(root, "holiday"))
	if k := sortedKeys(files); k != "DSC_0001.jpg,IMG_0001.jpg,IMG_0001.jpg.xmp,IMG_0002.HEIC" {
		t.Errorf("restored files %s", k)
	}
	for n, sum := range files {
		if sums[n] != sum {
			t.Errorf("restored %s: SHA-1 %s, want %s", n, sum, sums[n])
		}
	}
	for _, f := range []string{"01-timeline.png", "02-gallery.png", "03-album.png", "04-asset.png", "06-restored.png"} {
		if fi, err := os.Stat(filepath.Join(art, f)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty: %v", f, err)
		}
	}
}
