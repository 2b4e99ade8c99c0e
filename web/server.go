package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/repo"
)

// DefaultAddr is where serve listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8470"

// MinSecretLength is the shortest secret New accepts.
const MinSecretLength = 8

// Errors of New and Listen.
var (
	// ErrNotLoopback: the address would accept connections from the
	// network and Options.AllowRemote is not set.
	ErrNotLoopback = errors.New("web: address is not loopback")
	// ErrNoSecret: no secret, or one shorter than MinSecretLength.
	ErrNoSecret = errors.New("web: no usable secret")
)

// Options configure a Server.
type Options struct {
	// Secret is the password of the web UI, HTTP Basic and Bearer
	// authentication. Required.
	Secret []byte
	// AllowRemote accepts a non-loopback listen address and any Host
	// header. Without it, requests whose Host is not a loopback name are
	// refused (DNS rebinding).
	AllowRemote bool
	// TLS marks cookies Secure (the caller serves over TLS).
	TLS bool
	// Warn receives problems that do not stop the server.
	Warn func(msg string)
	// Version is shown in the page footer.
	Version string
	// CacheDir holds the gallery indexes and the thumbnail cache of Immich
	// snapshots (bounded; the library's file names and thumbnails in the
	// clear: keep it private). Empty: a temporary directory removed by Close.
	CacheDir string
	// RestoreRoot is the only directory the UI may restore into (albums
	// into a folder below it). Empty: restores from the UI are refused.
	RestoreRoot string
	// Jobs, when set (the server runs inside `immich-vault daemon`),
	// reports the daemon's scheduled jobs for the timeline.
	Jobs JobSource
	// ImmichURL and ImmichAPIKey, when both set, let the gallery upload a
	// selection into that running Immich (immich.RestoreToImmich). They
	// come from the server's configuration, never from a request.
	ImmichURL, ImmichAPIKey string
}

// Server serves one repository.
type Server struct {
	opts  Options
	st    *store
	auth  *auth
	pages *template.Template
	mux   *http.ServeMux
	gal   *galleryState
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns a server over r. ctx bounds the repository locks the server
// takes (cancel it, then call Close, to stop).
func New(ctx context.Context, r *repo.Repository, o Options) (*Server, error) {
	if len(o.Secret) < MinSecretLength {
		return nil, fmt.Errorf("%w: the secret must be at least %d characters", ErrNoSecret, MinSecretLength)
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	pages, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	gal, err := newGalleryState(o)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, st: newStore(ctx, r, o.Warn), auth: newAuth(o.Secret, o.TLS), pages: pages, mux: http.NewServeMux(), gal: gal}
	s.routes()
	return s, nil
}

// Close releases the repository lock the server may hold.
func (s *Server) Close() error {
	s.st.lock.close()
	s.gal.close()
	return nil
}

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.requireAuth(s.logout))
	s.mux.HandleFunc("GET /{$}", s.requireAuth(s.timeline))
	s.mux.HandleFunc("GET /s/{id}/{$}", s.requireAuth(s.browse))
	s.mux.HandleFunc("GET /s/{id}/browse/{path...}", s.requireAuth(s.browse))
	s.mux.HandleFunc("GET /s/{id}/file/{path...}", s.requireAuth(s.download))
	s.mux.HandleFunc("GET /s/{id}/archive/{path...}", s.requireAuth(s.archive))
	s.mux.HandleFunc("GET /s/{id}/gallery/{$}", s.requireAuth(s.galleryPage))
	s.mux.HandleFunc("GET /s/{id}/thumb/{asset}", s.requireAuth(s.assetHandler(s.thumb)))
	s.mux.HandleFunc("GET /s/{id}/preview/{asset}", s.requireAuth(s.assetHandler(s.preview)))
	s.mux.HandleFunc("GET /s/{id}/asset/{asset}", s.requireAuth(s.assetHandler(s.assetPage)))
	s.mux.HandleFunc("GET /s/{id}/original/{asset}", s.requireAuth(s.assetHandler(s.original)))
	s.mux.HandleFunc("POST /s/{id}/restore", s.requireAuth(s.restoreSelection))
	s.mux.HandleFunc("GET /diff", s.requireAuth(s.diffPage))
	dav := s.davHandler()
	s.mux.Handle("/dav", dav)
	s.mux.Handle("/dav/", dav)
}

// Handler returns the server's handler: security headers, the Host check,
// then the routes.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // not no-referrer: browsers then send "Origin: null" on form POSTs
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.opts.AllowRemote && !loopbackHost(r.Host) {
			// A loopback server reached under another name: DNS rebinding.
			http.Error(w, "this server answers only to localhost, 127.0.0.1 and [::1] (start it with --allow-remote to serve other names)", http.StatusMisdirectedRequest)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names the loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAddr returns nil when addr (host:port) is a loopback address, or
// when allowRemote is set. An empty host (all interfaces) and host names
// other than "localhost" are refused without allowRemote: they may resolve
// to, or bind, a network interface.
func CheckAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	switch {
	case host == "":
		return fmt.Errorf("%w: %q listens on every network interface", ErrNotLoopback, addr)
	case strings.EqualFold(host, "localhost"):
		return nil
	}
	h := host
	if i := strings.IndexByte(h, '%'); i >= 0 {
		h = h[:i]
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return fmt.Errorf("%w: %q is a host name, which may resolve to a network interface (give an IP address)", ErrNotLoopback, host)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("%w: %s is not a loopback address", ErrNotLoopback, ip)
	}
	return nil
}

// Listen checks addr with CheckAddr and listens on it.
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	if err := CheckAddr(addr, allowRemote); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !allowRemote {
		// "localhost" resolved by the system: make sure it was loopback.
		if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			ln.Close()
			return nil, fmt.Errorf("%w: %s resolved to %s", ErrNotLoopback, addr, ta.IP)
		}
	}
	return ln, nil
}

// HTTPServer returns an http.Server for Handler with timeouts suited to
// long downloads (no write timeout) and slow clients (header timeout).
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// requireAuth runs h for authenticated requests only. Unsafe methods also
// need the session's CSRF token (cookie sessions) or a Bearer header.
func (s *Server) requireAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kind, sess := s.auth.identify(r)
		if kind == authNone {
			s.unauthorized(w, r, false)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			switch {
			case kind == authBearer:
			case kind == authSession && checkCSRF(r, sess) && sameOrigin(r):
			default:
				http.Error(w, "refused: this request lacks a valid CSRF token (reload the page and try again)", http.StatusForbidden)
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	}
}

type sessionKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

// sameOrigin rejects requests a browser marks as cross-site (Sec-Fetch-Site,
// Origin); requests without those headers (older browsers, scripts) pass
// on the CSRF token alone.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// unauthorized answers a request without valid credentials: browsers
// asking for a page go to the login form, everyone else gets 401 (or 429
// while the client is rate limited).
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, dav bool) {
	if ok, wait := s.auth.allowed(r); !ok {
		retryAfter(w, wait)
		http.Error(w, "too many failed attempts: wait and try again", http.StatusTooManyRequests)
		return
	}
	if !dav && r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="immich-vault", charset="UTF-8"`)
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// safeNext returns next if it is a path on this server, else "/" (no open
// redirect).
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	pre := randomToken()
	http.SetCookie(w, s.auth.cookie(loginCookie, pre, 3600))
	s.render(w, r, http.StatusOK, "login.html", map[string]any{
		"Title": "Log in", "CSRF": s.auth.loginToken(pre), "Next": safeNext(r.URL.Query().Get("next")),
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if ok, wait := s.auth.allowed(r); !ok {
		retryAfter(w, wait)
		http.Error(w, "too many failed attempts: wait and try again", http.StatusTooManyRequests)
		return
	}
	if !s.auth.checkLoginToken(r) || !sameOrigin(r) {
		http.Error(w, "refused: the login form is stale or came from another site (reload the login page)", http.StatusForbidden)
		return
	}
	if !s.auth.checkSecret(r.PostFormValue("password")) {
		s.auth.failed(r)
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, http.StatusUnauthorized, "login.html", map[string]any{
			"Title": "Log in", "Error": "Wrong password.", "CSRF": r.PostFormValue(csrfField), "Next": safeNext(r.PostFormValue("next")),
		})
		return
	}
	tok, _ := s.auth.newSession()
	http.SetCookie(w, s.auth.cookie(sessionCookie, tok, int(sessionLifetime/time.Second)))
	http.SetCookie(w, s.auth.cookie(loginCookie, "", -1))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.auth.endSession(c.Value)
	}
	http.SetCookie(w, s.auth.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// render executes a page template straight into w (the page streams).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	if sess := sessionOf(r); sess != nil {
		data["SessionCSRF"] = sess.csrf
	}
	data["Version"] = s.opts.Version
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.opts.Warn(fmt.Sprintf("render %s: %v", name, err))
	}
}

// fail answers an error from the store with the matching status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBadPath):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotDir):
		status = http.StatusNotFound
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
	case errors.Is(err, errBusy):
		status = http.StatusConflict
	case r.Context().Err() != nil:
		return // the client went away
	default:
		s.opts.Warn(fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		s.render(w, r, status, "error.html", map[string]any{"Title": http.StatusText(status), "Status": status, "Error": err.Error()})
		return
	}
	http.Error(w, err.Error(), status)
}
