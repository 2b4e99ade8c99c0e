package main_test

// A real headless browser (Debian's chromium) drives the web UI of
// `immich-vault serve`: log in through the form, open the timeline, open a
// snapshot and a folder, download a file and compare it with the source.
// Screenshots of each step are kept in the artifact directory
// ($IMMICH_VAULT_TEST_ARTIFACTS, default $TMPDIR/immich-vault-test-artifacts)
// under serve-browser/.
//
// Chromium is driven over the DevTools protocol directly (JSON over a
// WebSocket, golang.org/x/net/websocket): the few commands needed do not
// justify a CDP client library.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// browserTimeout bounds each wait for the browser (generous: the machine
// may be loaded).
const browserTimeout = 2 * time.Minute

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: scripts/deps.d/40-chromium.sh installs it")
	}
	t.Skip("chromium not found (scripts/deps.d/40-chromium.sh installs it)")
	return ""
}

func artifactDir(t *testing.T, name string) string {
	t.Helper()
	root := os.Getenv("IMMICH_VAULT_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "immich-vault-test-artifacts")
	}
	dir := filepath.Join(root, name)
	os.RemoveAll(dir)
	mustMkdirAll(t, dir)
	t.Logf("artifacts (screenshots) in %s", dir)
	return dir
}

// cdp is one DevTools connection to the browser, with one page session.
type cdp struct {
	t       *testing.T
	ws      *websocket.Conn
	session string

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMsg
	events  chan cdpMsg
}

type cdpMsg struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium launches a headless chromium with a fresh profile and
// returns a DevTools connection attached to a new blank page.
func startChromium(t *testing.T, bin, downloads string) *cdp {
	t.Helper()
	// The profile is not a t.TempDir: chromium's helper processes (zygote,
	// renderers, crashpad) outlive a kill of the main process for a moment
	// and keep writing into it, and TempDir's single RemoveAll then fails
	// the test with "directory not empty" (seen in CI on a busy machine).
	// Chromium runs in its own process group, the whole group is killed,
	// and the profile is removed with retries until the writers are gone.
	profile, err := os.MkdirTemp("", "iv-chromium-profile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAllRetry(t, profile, 30*time.Second) })
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--no-default-browser-check", "--disable-extensions", "--user-data-dir="+profile,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1",
		"--window-size=1280,900", "about:blank")
	ownProcessGroup(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		killProcessGroup(cmd)
		cmd.Wait()
	})
	wsURL := make(chan string, 1)
	var logMu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := regexp.MustCompile(`DevTools listening on (ws://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				wsURL <- m[1]
			}
		}
	}()
	var u string
	select {
	case u = <-wsURL:
	case <-time.After(browserTimeout):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("chromium did not print its DevTools address within %v:\n%s", browserTimeout, log.String())
	}
	ws, err := websocket.Dial(u, "", "http://127.0.0.1")
	if err != nil {
		t.Fatalf("connect to chromium DevTools %s: %v", u, err)
	}
	ws.MaxPayloadBytes = 64 << 20
	c := &cdp{t: t, ws: ws, pending: map[int]chan cdpMsg{}, events: make(chan cdpMsg, 1024)}
	t.Cleanup(func() { ws.Close() })
	go c.readLoop()

	var target struct{ TargetID string }
	c.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	c.session = att.SessionID
	c.call("", "Browser.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": downloads, "eventsEnabled": true}, nil)
	c.call(c.session, "Page.enable", nil, nil)
	return c
}

func (c *cdp) readLoop() {
	for {
		var m cdpMsg
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			c.mu.Lock()
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case c.events <- m:
		default: // nobody reads events this old
		}
	}
}

// call sends a DevTools command (on session, "" for the browser) and
// decodes its result into out (if non-nil).
func (c *cdp) call(session, method string, params any, out any) {
	c.t.Helper()
	if err := c.callErr(session, method, params, out); err != nil {
		c.t.Fatal(err)
	}
}

// callErr is call returning DevTools' error answers instead of failing:
// an evaluation that meets a navigation is answered "Inspected target
// navigated or closed" (-32000), which a poll simply retries.
func (c *cdp) callErr(session, method string, params any, out any) error {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMsg, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	if err := websocket.JSON.Send(c.ws, msg); err != nil {
		c.t.Fatalf("DevTools %s: %v", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			c.t.Fatalf("DevTools %s: connection closed", method)
		}
		if m.Error != nil {
			return fmt.Errorf("DevTools %s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				c.t.Fatalf("DevTools %s: decode %s: %v", method, m.Result, err)
			}
		}
	case <-time.After(browserTimeout):
		c.t.Fatalf("DevTools %s: no answer within %v", method, browserTimeout)
	}
	return nil
}

// eval evaluates a JavaScript expression in the page (DevTools evaluation,
// which the page's CSP does not restrict) and returns its value as JSON.
func (c *cdp) eval(expr string) json.RawMessage {
	c.t.Helper()
	v, err := c.evalErr(expr)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// act runs a page action that may navigate (a click on a link or a submit
// button, history.back()) after the evaluation has answered: evaluated
// directly, the navigation can overtake the answer, which DevTools then
// reports as an error.
func (c *cdp) act(stmt string) {
	c.t.Helper()
	c.eval("setTimeout(() => { " + stmt + " }, 0); true")
}

func (c *cdp) evalErr(expr string) (json.RawMessage, error) {
	c.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := c.callErr(c.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		c.t.Fatalf("evaluate %s: %s", expr, res.ExceptionDetails.Text)
	}
	return res.Result.Value, nil
}

// waitFor polls expr until it is true, or fails with what the page shows.
func (c *cdp) waitFor(what, expr string) {
	c.t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for {
		// An error here is a navigation meeting the poll: poll again.
		if v, err := c.evalErr("document.readyState === 'complete' && !!(" + expr + ")"); err == nil && string(v) == "true" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %s: not there after %v; page %s:\n%.2000s", what, browserTimeout,
				c.eval("location.href"), c.eval("document.documentElement.outerHTML"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cdp) navigate(u string) {
	c.t.Helper()
	c.call(c.session, "Page.navigate", map[string]any{"url": u}, nil)
}

func (c *cdp) screenshot(path string) {
	c.t.Helper()
	var res struct{ Data string }
	c.call(c.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &res)
	b, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil || len(b) < 100 {
		c.t.Fatalf("screenshot %s: %d bytes, %v", path, len(b), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestServeBrowser(t *testing.T) {
	bin := findChromium(t)
	e := newEnv(t)
	src, id := serveFixture(t, e)
	s := e.startServe()
	art := artifactDir(t, "serve-browser")
	downloads := t.TempDir()
	c := startChromium(t, bin, downloads)
	base := strings.TrimSuffix(s.url, "/")

	// Not logged in: the timeline sends the browser to the login form.
	c.navigate(base + "/")
	c.waitFor("the login form", "document.querySelector('#login-form')")
	if href := string(c.eval("location.pathname")); href != `"/login"` {
		t.Errorf("unauthenticated timeline: browser at %s, want /login", href)
	}
	c.screenshot(filepath.Join(art, "01-login.png"))

	// A wrong password first: refused, still on the form.
	c.eval("document.querySelector('#password').focus()")
	c.call(c.session, "Input.insertText", map[string]any{"text": "not the password"}, nil)
	c.act("document.querySelector('#login-submit').click()")
	c.waitFor("the wrong-password message", "document.querySelector('#login-error')")
	c.screenshot(filepath.Join(art, "02-login-refused.png"))

	// The right one, typed as keyboard input.
	c.eval("document.querySelector('#password').value = ''; document.querySelector('#password').focus()")
	c.call(c.session, "Input.insertText", map[string]any{"text": serveSecret}, nil)
	c.act("document.querySelector('#login-submit').click()")
	c.waitFor("the timeline", "document.querySelector('#timeline')")
	c.waitFor("snapshot "+id+" on the timeline", "document.querySelector('#snap-"+id+"')")
	c.screenshot(filepath.Join(art, "03-timeline.png"))

	// Open the snapshot from the timeline, then the backed-up folder.
	c.act("document.querySelector('#snap-" + id + " h2 a').click()")
	c.waitFor("the snapshot's root folder", "document.querySelector('#listing') && location.pathname.endsWith('/browse/')")
	c.screenshot(filepath.Join(art, "04-snapshot-root.png"))
	c.navigate(base + "/s/" + id + "/browse/" + escPath(src[1:]) + "/")
	c.waitFor("the source folder", "document.querySelector('#listing a[href$=\"/big.bin\"]')")
	c.screenshot(filepath.Join(art, "05-folder.png"))
	c.act("document.querySelector('#listing a[href$=\"/photos/\"]').click()")
	c.waitFor("the photos folder", "document.querySelector('#crumbs') && document.querySelector('#crumbs').innerText.endsWith('photos')")
	c.screenshot(filepath.Join(art, "06-subfolder.png"))
	c.act("history.back()")
	c.waitFor("the source folder again", "document.querySelector('#listing a[href$=\"/big.bin\"]')")

	// Download a multi-chunk file by clicking its link.
	c.eval("document.querySelector('#listing a[href$=\"/big.bin\"]').click()")
	want, err := os.ReadFile(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	got := waitDownload(t, filepath.Join(downloads, "big.bin"), len(want))
	if string(got) != string(want) {
		t.Errorf("downloaded big.bin differs from the source (%d bytes, want %d)", len(got), len(want))
	}
	c.screenshot(filepath.Join(art, "07-after-download.png"))

	// Log out: the timeline is then refused again.
	c.act("document.querySelector('#logout').click()")
	c.waitFor("the login form after logout", "document.querySelector('#login-form')")
	c.navigate(base + "/")
	c.waitFor("the login form", "document.querySelector('#login-form')")
	for _, f := range []string{"01-login.png", "03-timeline.png", "05-folder.png"} {
		if fi, err := os.Stat(filepath.Join(art, f)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty: %v", f, err)
		}
	}
}

// waitDownload waits for chromium to finish writing path (it writes a
// .crdownload file and renames it) and returns its content; size < 0: of
// any size (path appears once complete).
func waitDownload(t *testing.T, path string, size int) []byte {
	t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for {
		if b, err := os.ReadFile(path); err == nil && (size < 0 || len(b) == size) {
			return b
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Dir(path))
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("download %s not complete after %v; the download folder holds %v", path, browserTimeout, names)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// removeAllRetry removes dir, retrying while processes that were just
// killed may still be creating files in it; it reports (without failing the
// test) a directory that could not be removed within limit.
func removeAllRetry(t *testing.T, dir string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("could not remove chromium profile %s: %v", dir, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
