package web

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/repo/repotest"
)

// sessionClient logs in through the form, as a browser does, and returns
// a client with the session cookie and the session's CSRF token.
func sessionClient(t *testing.T, base string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrfRE := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := csrfRE.FindStringSubmatch(read(c.Get(base + "/login")))
	if m == nil {
		t.Fatal("no CSRF token in the login form")
	}
	resp, err := c.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "password": {testSecret}, "next": {"/"}})
	if read(resp, err); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	m = csrfRE.FindStringSubmatch(read(c.Get(base + "/")))
	if m == nil {
		t.Fatal("no session CSRF token on the timeline")
	}
	return c, m[1]
}

// formPoster returns a function that posts a form to u with client c and
// returns the response and its body.
func formPoster(t *testing.T, c *http.Client, u string) func(url.Values) (*http.Response, string) {
	return func(v url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := c.PostForm(u, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
}

// restoredNames lists the regular files below dir (base names, sorted).
func restoredNames(t *testing.T, dir string, lib *synthLibrary) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(p)
		var i int
		fmt.Sscanf(d.Name(), "IMG_%06d", &i)
		if s := sha1.Sum(b); hex.EncodeToString(s[:]) != lib.sums[synthID(i)] {
			t.Errorf("%s: content differs from the dump's checksum", p)
		}
		names = append(names, d.Name())
		return nil
	})
	sort.Strings(names)
	return names
}

func imgNames(is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, fmt.Sprintf("IMG_%06d.jpg", i))
	}
	sort.Strings(out)
	return out
}

// TestGalleryRestoreSelection: the gallery restores a person's assets, a
// date range, and both at once into folders below the restore root, from
// a logged-in session with its CSRF token — exactly the assets the
// gallery's filter shows, with the dump's checksums. Without the token,
// without any filter, with an unknown person or a malformed date, nothing
// is written.
func TestGalleryRestoreSelection(t *testing.T) {
	r := repotest.New(t)
	// 30 assets, all with originals; "Sevens" is on 0, 7, 14, 21, 28;
	// asset i is taken i hours before 2024-01-01 00:00 UTC.
	lib := newSynthLibrary(t, r, 30, 30)
	root := t.TempDir()
	ts := newGalleryServer(t, r, Options{RestoreRoot: root})
	base := "/s/" + lib.sn.ID().Short()
	person := "cccccccc-0000-4000-8000-000000000001"
	c, csrf := sessionClient(t, ts.URL)
	post := formPoster(t, c, ts.URL+base+"/restore")

	// The gallery page filtered by person offers the restore with the filter.
	_, body := get(t, ts, base+"/gallery/?person="+person)
	if !strings.Contains(string(body), `name="person" value="`+person+`"`) || !strings.Contains(string(body), `Restore person “Sevens” — 5 assets`) {
		t.Fatalf("gallery filtered by person: no restore form for it:\n%s", body)
	}
	_, body = get(t, ts, base+"/gallery/")
	if strings.Contains(string(body), `id="restore-form"`) {
		t.Errorf("an unfiltered gallery offers to restore the whole library:\n%s", body)
	}

	// Refused: nothing written.
	for _, tc := range []struct {
		name string
		v    url.Values
		want int
	}{
		{"no CSRF token", url.Values{"person": {person}, "folder": {"x"}}, http.StatusForbidden},
		{"wrong CSRF token", url.Values{"csrf": {"x" + csrf}, "person": {person}, "folder": {"x"}}, http.StatusForbidden},
		{"no filter", url.Values{"csrf": {csrf}, "folder": {"x"}}, http.StatusBadRequest},
		{"unknown person", url.Values{"csrf": {csrf}, "person": {"nobody"}, "folder": {"x"}}, http.StatusNotFound},
		{"malformed date", url.Values{"csrf": {csrf}, "after": {"2023-13-45"}, "folder": {"x"}}, http.StatusBadRequest},
		{"folder leaves the root", url.Values{"csrf": {csrf}, "person": {person}, "folder": {"../x"}}, http.StatusBadRequest},
	} {
		if resp, page := post(tc.v); resp.StatusCode != tc.want {
			t.Errorf("%s: want %d, got %s\n%s", tc.name, tc.want, resp.Status, page)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("refused restores wrote %d entries into the root", len(ents))
	}

	for _, tc := range []struct {
		folder string
		v      url.Values
		want   []string
		title  string
	}{
		{"sevens", url.Values{"person": {person}}, imgNames(0, 7, 14, 21, 28), "Restored person “Sevens”"},
		{"dec30", url.Values{"after": {"2023-12-30"}, "before": {"2023-12-30"}}, imgNames(25, 26, 27, 28, 29), "Restored taken 2023-12-30 to 2023-12-30"},
		{"sevens-dec31", url.Values{"person": {person}, "after": {"2023-12-31"}, "before": {"2023-12-31"}}, imgNames(7, 14, 21), "Restored person “Sevens”, taken 2023-12-31 to 2023-12-31"},
		{"bob-from-dec31", url.Values{"user": {"aaaaaaaa-0000-4000-8000-000000000002"}, "after": {"2023-12-31"}}, imgNames(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23), "Restored user bob@example.com, taken from 2023-12-31"},
	} {
		tc.v.Set("csrf", csrf)
		tc.v.Set("folder", tc.folder)
		resp, page := post(tc.v)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, tc.title) {
			t.Errorf("restore %s: %s\n%s", tc.folder, resp.Status, page)
			continue
		}
		if tc.folder == "bob-from-dec31" {
			tc.want[0] = "IMG_000001.heic" // asset 1's original is a HEIC
			sort.Strings(tc.want)
		}
		if got := restoredNames(t, filepath.Join(root, tc.folder), lib); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("restore %s: files\n %v\nwant\n %v\n%s", tc.folder, got, tc.want, page)
		}
	}
}
