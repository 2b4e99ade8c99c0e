package main_test

// End-to-end tests of `immich-vault serve`: each starts the real binary on
// 127.0.0.1 (port 0: a free one), reads the URL it prints with --json, and
// talks HTTP to it — raw TCP where a client library might normalise the
// request (traversal), net/http elsewhere.

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveSecret is the server password of these tests (not the repository's).
const serveSecret = "serve secret for tests"

// served is one running `immich-vault serve`.
type served struct {
	t      *testing.T
	url    string // http://127.0.0.1:PORT/
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
}

func (s *served) errText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// serveEnv is the environment runOpts gives the binary, plus extra.
func (e *env) serveEnv(extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + e.home, "LANG=C.UTF-8", "TMPDIR=" + os.TempDir(),
		"IMMICH_VAULT_REPOSITORY=" + e.repo, "IMMICH_VAULT_PASSWORD=" + e.password, "IMMICH_VAULT_CACHE_DIR=" + e.cache,
	}, extra...)
}

// startServe starts `serve --json --listen 127.0.0.1:0 ARGS...` with the
// server password in IMMICH_VAULT_SERVE_PASSWORD, waits (up to minutes) for
// the URL it prints, and stops it with SIGTERM at the end of the test,
// requiring a clean exit.
func (e *env) startServe(args ...string) *served {
	e.t.Helper()
	return e.startServeEnv(nil, args...)
}

// startServeEnv is startServe with extra environment variables.
func (e *env) startServeEnv(extraEnv []string, args ...string) *served {
	e.t.Helper()
	s := &served{t: e.t, done: make(chan struct{})}
	s.cmd = exec.Command(binPath, append([]string{"serve", "--json", "--listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = e.serveEnv(append([]string{"IMMICH_VAULT_SERVE_PASSWORD=" + serveSecret}, extraEnv...)...)
	s.cmd.Dir = e.dir
	s.cmd.Stderr = lockedWriter{&s.mu, &s.stderr}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var v struct{ URL string }
			if json.Unmarshal(sc.Bytes(), &v) == nil && v.URL != "" {
				urls <- v.URL
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait(); close(s.done) }()
	select {
	case s.url = <-urls:
	case err := <-exited:
		e.t.Fatalf("serve exited before printing its URL: %v\nstderr:\n%s", err, s.errText())
	case <-time.After(cmdTimeout):
		s.cmd.Process.Kill()
		e.t.Fatalf("serve printed no URL within %v\nstderr:\n%s", cmdTimeout, s.errText())
	}
	e.t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
			if code := s.cmd.ProcessState.ExitCode(); code != 0 {
				e.t.Errorf("serve exited with code %d after SIGTERM\nstderr:\n%s", code, s.errText())
			}
		case <-time.After(cmdTimeout):
			s.cmd.Process.Kill()
			e.t.Errorf("serve did not stop within %v of SIGTERM\nstderr:\n%s", cmdTimeout, s.errText())
		}
	})
	return s
}

// do sends req (path relative to the server) and returns status and body.
func (s *served) do(c *http.Client, method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(s.url, "/")+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = noRedirect(nil)
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v\nserver stderr:\n%s", method, path, err, s.errText())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// get is an authenticated (HTTP Basic) GET.
func (s *served) get(path string) (*http.Response, []byte) {
	s.t.Helper()
	return s.do(nil, "GET", path, nil, basicAuth(serveSecret))
}

func basicAuth(pw string) map[string]string {
	req := &http.Request{Header: http.Header{}}
	req.SetBasicAuth("anyone", pw)
	return map[string]string{"Authorization": req.Header.Get("Authorization")}
}

// noRedirect returns a client that reports redirects instead of following them.
func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, Timeout: cmdTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// rawGet sends a request line exactly as given (no client-side cleaning or
// escaping) and returns the status code and body.
func (s *served) rawGet(target string, hdr map[string]string) (int, string) {
	s.t.Helper()
	u, _ := url.Parse(s.url)
	conn, err := net.DialTimeout("tcp", u.Host, cmdTimeout)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(cmdTimeout))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", target, u.Host)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		s.t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// serveFixture backs up a small tree with awkward names, a multi-blob file
// and a symlink, and returns the source dir and the snapshot's short ID.
func serveFixture(t *testing.T, e *env) (string, string) {
	t.Helper()
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	rnd := rand.New(rand.NewSource(16))
	big := make([]byte, 9<<20+12345) // several chunks
	rnd.Read(big)
	files := map[string][]byte{
		"big.bin":                         big,
		"photos/IMG 0001 (copy).jpg":      []byte("not really a jpeg\n"),
		"photos/été #1 100% ?.txt":        []byte("awkward name\n"),
		"photos/deep/er/note.md":          []byte("# note\n"),
		"evil.html":                       []byte("<script>document.title='pwned'</script>\n"),
		"empty":                           nil,
		"photos/deep/..hidden..":          []byte("dots are fine inside a name\n"),
		"photos/deep/er/line\nbreak name": []byte("newline in a name\n"),
	}
	for p, b := range files {
		mustMkdirAll(t, filepath.Dir(filepath.Join(src, p)))
		if err := os.WriteFile(filepath.Join(src, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../big.bin", filepath.Join(src, "photos", "link")); err != nil {
		t.Fatal(err)
	}
	sum, _ := e.backup(exitOK, src)
	return src, sum.SnapshotID[:8]
}

// escPath escapes each component of a slash path for a URL.
func escPath(p string) string {
	parts := strings.Split(p, "/")
	for i, c := range parts {
		parts[i] = url.PathEscape(c)
	}
	return strings.Join(parts, "/")
}

func TestServeRefusesNonLoopback(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		r := e.runOpts(opts{extraEnv: []string{"IMMICH_VAULT_SERVE_PASSWORD=" + serveSecret}}, "serve", "--listen", addr)
		if !wantFailure(t, r) {
			continue
		}
		if !strings.Contains(r.stderr, "--allow-remote") {
			t.Errorf("serve --listen %s: the refusal does not name --allow-remote:\n%v", addr, r)
		}
	}
	// With the explicit flag, every interface is accepted.
	s := e.startServe("--allow-remote", "--listen", "0.0.0.0:0")
	if resp, _ := s.get("/"); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("--allow-remote on 0.0.0.0: GET / gave %s", resp.Status)
	}
}

func TestServeNeedsSecret(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	r := e.run("serve", "--listen", "127.0.0.1:0")
	wantFailure(t, r)
	if !strings.Contains(r.stderr, "IMMICH_VAULT_SERVE_PASSWORD") {
		t.Errorf("the refusal does not say where the password comes from:\n%v", r)
	}
	short := e.runOpts(opts{extraEnv: []string{"IMMICH_VAULT_SERVE_PASSWORD=short"}}, "serve", "--listen", "127.0.0.1:0")
	wantFailure(t, short)
	// From a file, first line only.
	pwFile := filepath.Join(e.dir, "serve-password")
	if err := os.WriteFile(pwFile, []byte(serveSecret+"\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "serve", "--json", "--listen", "127.0.0.1:0")
	cmd.Env = e.serveEnv("IMMICH_VAULT_SERVE_PASSWORD_FILE=" + pwFile)
	out, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve with a password file printed no URL: %v\n%s", err, stderr.String())
	}
	var v struct{ URL string }
	json.Unmarshal([]byte(line), &v)
	s := &served{t: t, url: v.URL}
	if resp, _ := s.get("/"); resp.StatusCode != http.StatusOK {
		t.Errorf("password from file: GET / with it gave %s", resp.Status)
	}
}

func TestServeUnauthenticatedRefused(t *testing.T) {
	e := newEnv(t)
	src, id := serveFixture(t, e)
	big, err := os.ReadFile(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	s := e.startServe()
	paths := []string{
		"/", "/s/" + id + "/browse/", "/s/" + id + "/file/" + escPath(filepath.Join(e.dir, "src", "big.bin")[1:]),
		"/s/" + id + "/archive/?format=tar", "/s/" + id + "/archive/?format=zip", "/dav/",
	}
	for _, p := range paths {
		for _, hdr := range []map[string]string{
			nil,
			basicAuth("wrong password"),
			{"Authorization": "Bearer wrong"},
			{"Cookie": "iv_session=forged"},
			{"Accept": "text/html"},
		} {
			resp, body := s.do(nil, "GET", p, nil, hdr)
			switch {
			case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusTooManyRequests:
			case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
			default:
				t.Errorf("GET %s with %v: want 401, 429 or a redirect to /login, got %s (%d body bytes)", p, hdr, resp.Status, len(body))
			}
			for _, leak := range [][]byte{[]byte(`id="listing"`), []byte(`id="timeline"`), []byte("multistatus"), big[:32]} {
				if bytes.Contains(body, leak) {
					t.Errorf("GET %s with %v: the refusal leaks content (%q): %.300q", p, hdr, leak, body)
				}
			}
		}
		resp, _ := s.do(nil, "PROPFIND", p, nil, map[string]string{"Depth": "1"})
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("PROPFIND %s unauthenticated: got %s", p, resp.Status)
		}
	}
	// The failures above used up this client's allowance: even the right
	// password is now refused until the limiter refills.
	if resp, _ := s.get("/"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after many wrong passwords, the right one: want 429 with Retry-After, got %s", resp.Status)
	}
}

func TestServeLoginRateLimited(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	s := e.startServe()
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	var got []int
	for i := 0; i < 8; i++ {
		csrf := loginForm(t, s, c)
		resp, _ := s.do(c, "POST", "/login", strings.NewReader(url.Values{"csrf": {csrf}, "password": {"guess " + fmt.Sprint(i)}}.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		got = append(got, resp.StatusCode)
	}
	if got[0] != http.StatusUnauthorized || got[len(got)-1] != http.StatusTooManyRequests {
		t.Errorf("eight wrong logins in a row: want 401 first and 429 last, got %v", got)
	}
}

// loginForm GETs /login with c and returns the form's CSRF token.
func loginForm(t *testing.T, s *served, c *http.Client) string {
	t.Helper()
	resp, body := s.do(c, "GET", "/login", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /login: %s", resp.Status)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the login form:\n%s", body)
	}
	return string(m[1])
}

// login logs c in through the form and returns the session's CSRF token.
func login(t *testing.T, s *served, c *http.Client) string {
	t.Helper()
	csrf := loginForm(t, s, c)
	resp, _ := s.do(c, "POST", "/login", strings.NewReader(url.Values{"csrf": {csrf}, "password": {serveSecret}, "next": {"/"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: want 303 to /, got %s %q", resp.Status, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "iv_session" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie must be HttpOnly and SameSite=Strict, got %+v", cookie)
	}
	_, body := s.do(c, "GET", "/", nil, nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the logged-in page:\n%s", body)
	}
	return string(m[1])
}

func TestServeCSRF(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	s := e.startServe()
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	// A login POST without the form's token (a cross-site login) is refused.
	resp, _ := s.do(nil, "POST", "/login", strings.NewReader(url.Values{"password": {serveSecret}}.Encode()), form)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: want 403, got %s", resp.Status)
	}

	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	csrf := login(t, s, c)
	loggedIn := func() bool {
		resp, _ := s.do(c, "GET", "/", nil, nil)
		return resp.StatusCode == http.StatusOK
	}
	if !loggedIn() {
		t.Fatal("not logged in after login")
	}
	for _, tc := range []struct {
		name string
		body url.Values
		hdr  map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {wrongToken(csrf)}}, nil},
		{"right token from another site", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
	} {
		hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		for k, v := range tc.hdr {
			hdr[k] = v
		}
		resp, _ := s.do(c, "POST", "/logout", strings.NewReader(tc.body.Encode()), hdr)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /logout with %s: want 403, got %s", tc.name, resp.Status)
		}
		if !loggedIn() {
			t.Fatalf("POST /logout with %s ended the session", tc.name)
		}
	}
	// Basic credentials are sent by browsers ambiently: never enough for a POST.
	hdr := basicAuth(serveSecret)
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	if resp, _ := s.do(nil, "POST", "/logout", strings.NewReader(""), hdr); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST with Basic auth and no CSRF token: want 403, got %s", resp.Status)
	}
	resp, _ = s.do(c, "POST", "/logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()), form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /logout with the token: want 303, got %s", resp.Status)
	}
	if loggedIn() {
		t.Error("still logged in after logout")
	}
}

func TestServeTraversalRefused(t *testing.T) {
	e := newEnv(t)
	src, id := serveFixture(t, e)
	// A file next to the backed-up folder, never in any snapshot, and one
	// every system has: neither may ever come back.
	marker := "TRAVERSAL-MARKER-" + t.Name()
	if err := os.WriteFile(filepath.Join(e.dir, "outside.txt"), []byte(marker), 0o644); err != nil {
		t.Fatal(err)
	}
	s := e.startServe()
	auth := basicAuth(serveSecret)
	in := src[1:] // the folder's path inside the snapshot
	var targets []string
	for _, route := range []string{"file", "browse", "archive"} {
		base := "/s/" + id + "/" + route + "/"
		for _, p := range []string{
			in + "/../outside.txt",
			in + "/%2e%2e/outside.txt",
			in + "/%2E%2E%2Foutside.txt",
			in + "%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
			"../../../../../../etc/passwd",
			"%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
			"..%2f..%2f..%2f..%2fetc%2fpasswd",
			"..%5c..%5c..%5cetc%5cpasswd",
			in + "/./big.bin/../../outside.txt",
			in + "//outside.txt",
			in + "/big.bin%00.txt",
			"/etc/passwd",
			"//etc/passwd",
		} {
			q := ""
			if route == "archive" {
				q = "?format=tar"
			}
			targets = append(targets, base+p+q)
		}
	}
	targets = append(targets, "/dav/..%2f..%2fetc%2fpasswd", "/dav/../../etc/passwd", "/static/../../etc/passwd", "/static/..%2f..%2fetc%2fpasswd")
	for _, target := range targets {
		code, body := s.rawGet(target, auth)
		if strings.Contains(body, marker) || strings.Contains(body, "root:x:0:0") {
			t.Errorf("GET %s returned a file from outside the snapshot (%d)", target, code)
		}
		switch code {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			t.Errorf("GET %s: want 400, 404 or a redirect to a cleaned path, got %d: %.200s", target, code, body)
		}
	}
	// Sanity: the same route does serve files that are in the snapshot, so
	// the refusals above are not a broken route.
	resp, body := s.get("/s/" + id + "/file/" + escPath(in+"/photos/deep/..hidden.."))
	if resp.StatusCode != http.StatusOK || string(body) != "dots are fine inside a name\n" {
		t.Errorf("a name with dots inside it: got %s %q", resp.Status, body)
	}
}

func TestServeDownloadBitIdentical(t *testing.T) {
	e := newEnv(t)
	src, id := serveFixture(t, e)
	s := e.startServe()
	in := src[1:]
	for _, rel := range []string{"big.bin", "photos/IMG 0001 (copy).jpg", "photos/été #1 100% ?.txt", "empty", "evil.html", "photos/deep/er/line\nbreak name"} {
		want, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		p := "/s/" + id + "/file/" + escPath(in+"/"+rel)
		resp, got := s.get(p)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("download %q: %s, %d bytes, identical=%v (want %d bytes)", rel, resp.Status, len(got), bytes.Equal(got, want), len(want))
			continue
		}
		if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(want)) {
			t.Errorf("download %q: Content-Length %q, want %d", rel, cl, len(want))
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("download %q: Content-Disposition %q: file contents must never render in the browser", rel, cd)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
			t.Errorf("download %q: CSP %q lacks sandbox", rel, csp)
		}
	}
	// Ranges inside and across chunk boundaries of the big file.
	big, _ := os.ReadFile(filepath.Join(src, "big.bin"))
	p := "/s/" + id + "/file/" + escPath(in+"/big.bin")
	for _, r := range [][2]int{{0, 0}, {1, 100}, {3 << 20, 5<<20 + 17}, {len(big) - 10, len(big) - 1}, {123456, 8 << 20}} {
		resp, got := s.do(nil, "GET", p, nil, map[string]string{"Authorization": basicAuth(serveSecret)["Authorization"], "Range": fmt.Sprintf("bytes=%d-%d", r[0], r[1])})
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, big[r[0]:r[1]+1]) {
			t.Errorf("range %d-%d: %s, %d bytes, identical=%v", r[0], r[1], resp.Status, len(got), bytes.Equal(got, big[r[0]:r[1]+1]))
		}
	}

	// The folder as tar: extracted (by Go's reader, and by tar(1) when
	// installed), every file is bit-identical and the symlink kept.
	resp, tarball := s.get("/s/" + id + "/archive/" + escPath(in) + "?format=tar")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tar: %s", resp.Status)
	}
	gotFiles := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar stream: %v", err)
		}
		if strings.Contains(h.Name, "..") && !strings.HasSuffix(h.Name, "..hidden..") {
			t.Errorf("tar entry %q climbs out", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			gotFiles[strings.TrimPrefix(h.Name, "src/")] = b
		case tar.TypeSymlink:
			gotFiles[strings.TrimPrefix(h.Name, "src/")] = []byte("-> " + h.Linkname)
		}
	}
	compareTree(t, "tar", src, gotFiles)
	if _, err := exec.LookPath("tar"); err == nil {
		out := filepath.Join(e.dir, "untar")
		mustMkdirAll(t, out)
		cmd := exec.Command("tar", "-x", "-C", out)
		cmd.Stdin = bytes.NewReader(tarball)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tar -x: %v\n%s", err, b)
		}
		if b, err := exec.Command("diff", "-r", "--no-dereference", src, filepath.Join(out, "src")).CombinedOutput(); err != nil {
			t.Errorf("diff -r source and tar(1)-extracted download: %v\n%s", err, b)
		}
	}

	// The folder as zip.
	resp, zipped := s.get("/s/" + id + "/archive/" + escPath(in) + "?format=zip")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("zip: %s", resp.Status)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	gotFiles = map[string][]byte{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Mode()&os.ModeSymlink != 0 {
			b = append([]byte("-> "), b...)
		}
		gotFiles[strings.TrimPrefix(f.Name, "src/")] = b
	}
	compareTree(t, "zip", src, gotFiles)
}

// compareTree checks that got (relative path → content, "-> target" for
// symlinks) matches the files and symlinks under dir exactly.
func compareTree(t *testing.T, what, dir string, got map[string][]byte) {
	t.Helper()
	want := map[string][]byte{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode().IsRegular():
			want[rel], _ = os.ReadFile(p)
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			want[rel] = []byte("-> " + l)
		}
		return nil
	})
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: %q missing", what, k)
		} else if !bytes.Equal(g, w) {
			t.Errorf("%s: %q differs (%d bytes, want %d)", what, k, len(g), len(w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected entry %q", what, k)
		}
	}
}

func TestServeWebDAVReadOnly(t *testing.T) {
	e := newEnv(t)
	src, id := serveFixture(t, e)
	s := e.startServe()
	auth := basicAuth(serveSecret)
	resp, body := s.do(nil, "PROPFIND", "/dav/", nil, map[string]string{"Authorization": auth["Authorization"], "Depth": "1"})
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND /dav/: %s\n%s", resp.Status, body)
	}
	m := regexp.MustCompile(`<D:href>(/dav/[^<]*_` + id + `/)</D:href>`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("PROPFIND /dav/ does not list snapshot %s:\n%s", id, body)
	}
	snapDir := string(m[1])
	file := snapDir + escPath(src[1:]+"/big.bin")
	want, _ := os.ReadFile(filepath.Join(src, "big.bin"))
	if resp, got := s.get(file); resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("WebDAV GET: %s, identical=%v", resp.Status, bytes.Equal(got, want))
	}
	resp, body = s.do(nil, "PROPFIND", snapDir+escPath(src[1:]+"/photos")+"/", nil, map[string]string{"Authorization": auth["Authorization"], "Depth": "1"})
	if resp.StatusCode != http.StatusMultiStatus || !bytes.Contains(body, []byte("IMG%200001%20%28copy%29.jpg")) {
		t.Errorf("PROPFIND of a folder: %s\n%s", resp.Status, body)
	}
	if resp, _ := s.do(nil, "OPTIONS", "/dav/", nil, auth); resp.Header.Get("DAV") != "1" || strings.Contains(resp.Header.Get("Allow"), "PUT") {
		t.Errorf("OPTIONS: DAV %q Allow %q: want class 1 and no write method", resp.Header.Get("DAV"), resp.Header.Get("Allow"))
	}
	before := e.snapshots()
	for _, tc := range []struct {
		method, path string
		hdr          map[string]string
	}{
		{"PUT", file, nil},
		{"PUT", snapDir + "new.txt", nil},
		{"PUT", "/dav/new.txt", nil},
		{"DELETE", file, nil},
		{"DELETE", snapDir, nil},
		{"MKCOL", snapDir + "newdir", nil},
		{"MOVE", file, map[string]string{"Destination": s.url + "dav/moved"}},
		{"COPY", file, map[string]string{"Destination": snapDir + "copy"}},
		{"PROPPATCH", file, nil},
		{"LOCK", file, nil},
		{"UNLOCK", file, map[string]string{"Lock-Token": "<opaquelocktoken:x>"}},
		{"POST", file, nil},
	} {
		hdr := map[string]string{"Authorization": auth["Authorization"]}
		for k, v := range tc.hdr {
			hdr[k] = v
		}
		resp, _ := s.do(nil, tc.method, tc.path, strings.NewReader("overwritten"), hdr)
		if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s: want 405 or 403, got %s", tc.method, tc.path, resp.Status)
		}
	}
	if resp, got := s.get(file); resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Errorf("after the refused writes, GET: %s, identical=%v", resp.Status, bytes.Equal(got, want))
	}
	after := e.snapshots()
	if len(after) != len(before) {
		t.Errorf("the refused writes changed the snapshot list: %d → %d", len(before), len(after))
	}
	e.ok("check")
}

func TestServeTimelineAndBrowse(t *testing.T) {
	e := newEnv(t)
	src, id := serveFixture(t, e)
	s := e.startServe()
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	login(t, s, c)
	resp, body := s.do(c, "GET", "/", nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`id="snap-`+id+`"`)) {
		t.Fatalf("timeline: %s, snapshot %s listed: %v", resp.Status, id, bytes.Contains(body, []byte(id)))
	}
	resp, body = s.do(c, "GET", "/s/"+id+"/browse/"+escPath(src[1:]+"/photos")+"/", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("browse: %s", resp.Status)
	}
	for _, want := range []string{"IMG 0001 (copy).jpg", "été #1 100% ?.txt", "deep/", "link → ../big.bin", "18 B"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("browse listing lacks %q", want)
		}
	}
	// Links in the listing are escaped so that names with '#', '?', '%'
	// reach the file.
	href := regexp.MustCompile(`(?i)href="(/s/[^"]*/file/[^"]*%c3%a9[^"]*)"`).FindSubmatch(body)
	if href == nil {
		t.Fatalf("no download link for the awkward name in:\n%s", body)
	}
	if resp, got := s.do(c, "GET", string(href[1]), nil, nil); resp.StatusCode != http.StatusOK || string(got) != "awkward name\n" {
		t.Errorf("the listing's link %s to a name with '#', '?' and '%%' gives %s %q", href[1], resp.Status, got)
	}
	// The page loads its style sheet from the server itself, nothing else.
	if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) || bytes.Contains(body, []byte("<script")) {
		t.Error("the page references an external resource or a script")
	}
	if resp, css := s.do(c, "GET", "/static/style.css", nil, nil); resp.StatusCode != http.StatusOK || len(css) < 100 {
		t.Errorf("style sheet: %s", resp.Status)
	}
}
