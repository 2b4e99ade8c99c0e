package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	sessionCookie = "iv_session"
	loginCookie   = "iv_login" // pre-session value the login form's CSRF token is bound to
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"

	sessionIdle     = 2 * time.Hour
	sessionLifetime = 24 * time.Hour
	maxSessions     = 1000

	// Failed logins: each client address may fail loginBurst times, then
	// one more attempt per loginRefill; all clients together (they may all
	// come through one reverse proxy) globalBurst / globalRefill.
	loginBurst   = 5
	loginRefill  = 10 * time.Second
	globalBurst  = 30
	globalRefill = 2 * time.Second
)

// authKind says how a request proved it knows the secret.
type authKind int

const (
	authNone    authKind = iota
	authSession          // session cookie: POSTs also need the CSRF token
	authBasic            // HTTP Basic: browsers send it ambiently, so it never authorises a POST
	authBearer           // Authorization: Bearer: never ambient
)

type session struct {
	csrf    string
	created time.Time
	seen    time.Time
}

// auth holds the secret, the sessions and the failure limiter.
type auth struct {
	secretSum [32]byte // SHA-256 of the secret: compared in constant time
	key       [32]byte // random per process: HMAC key binding login CSRF tokens
	secure    bool     // cookies get Secure (TLS)

	mu       sync.Mutex
	sessions map[[32]byte]*session // by SHA-256 of the cookie value
	limits   map[string]*bucket
	global   bucket
	now      func() time.Time
}

func newAuth(secret []byte, secure bool) *auth {
	a := &auth{secretSum: sha256.Sum256(secret), secure: secure, sessions: map[[32]byte]*session{}, limits: map[string]*bucket{}, now: time.Now}
	if _, err := rand.Read(a.key[:]); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return a
}

// checkSecret compares a presented secret with the configured one in
// constant time (hashing first makes the comparison length-independent).
func (a *auth) checkSecret(s string) bool {
	sum := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(sum[:], a.secretSum[:]) == 1
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// identify returns how r is authenticated (and its session, for cookies).
// A wrong Basic or Bearer secret counts as a failed attempt.
func (a *auth) identify(r *http.Request) (authKind, *session) {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			if a.attempt(r, tok) {
				return authBearer, nil
			}
			return authNone, nil
		}
		if _, pw, ok := r.BasicAuth(); ok {
			if a.attempt(r, pw) {
				return authBasic, nil
			}
			return authNone, nil
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if s := a.lookup(c.Value); s != nil {
			return authSession, s
		}
	}
	return authNone, nil
}

func (a *auth) lookup(tok string) *session {
	k := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[k]
	if s == nil {
		return nil
	}
	now := a.now()
	if now.Sub(s.seen) > sessionIdle || now.Sub(s.created) > sessionLifetime {
		delete(a.sessions, k)
		return nil
	}
	s.seen = now
	return s
}

// newSession stores a session and returns its cookie value.
func (a *auth) newSession() (string, *session) {
	tok := randomToken()
	now := a.now()
	s := &session{csrf: randomToken(), created: now, seen: now}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sessions) >= maxSessions {
		for k, o := range a.sessions { // drop expired ones, else the oldest
			if now.Sub(o.seen) > sessionIdle || now.Sub(o.created) > sessionLifetime {
				delete(a.sessions, k)
			}
		}
		for len(a.sessions) >= maxSessions {
			var oldest [32]byte
			var t time.Time
			for k, o := range a.sessions {
				if t.IsZero() || o.seen.Before(t) {
					oldest, t = k, o.seen
				}
			}
			delete(a.sessions, oldest)
		}
	}
	a.sessions[sha256.Sum256([]byte(tok))] = s
	return tok, s
}

func (a *auth) endSession(tok string) {
	k := sha256.Sum256([]byte(tok))
	a.mu.Lock()
	delete(a.sessions, k)
	a.mu.Unlock()
}

// checkCSRF reports whether the request carries the session's CSRF token
// (form field or header), compared in constant time.
func checkCSRF(r *http.Request, s *session) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// loginToken is the login form's CSRF token, bound to the pre-session
// cookie value (a signed double-submit token).
func (a *auth) loginToken(pre string) string {
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte("login\x00" + pre))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *auth) checkLoginToken(r *http.Request) bool {
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostFormValue(csrfField)
	return subtle.ConstantTimeCompare([]byte(got), []byte(a.loginToken(c.Value))) == 1
}

func (a *auth) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteStrictMode}
}

// bucket is a token bucket of allowed failures.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, burst int, refill time.Duration, consume bool) (bool, time.Duration) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(burst), now
	}
	b.tokens += float64(now.Sub(b.last)) / float64(refill)
	if b.tokens > float64(burst) {
		b.tokens = float64(burst)
	}
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(refill))
	}
	if consume {
		b.tokens--
	}
	return true, 0
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allowed reports whether r's client may try a secret now, and if not how
// long to wait.
func (a *auth) allowed(r *http.Request) (bool, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	b := a.limits[clientAddr(r)]
	if b == nil {
		b = &bucket{}
	}
	if ok, wait := b.take(now, loginBurst, loginRefill, false); !ok {
		return false, wait
	}
	return a.global.take(now, globalBurst, globalRefill, false)
}

// failed records a failed attempt of r's client.
func (a *auth) failed(r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	addr := clientAddr(r)
	b := a.limits[addr]
	if b == nil {
		if len(a.limits) > 10_000 { // bounded memory: forget everyone's history but the global bucket's
			a.limits = map[string]*bucket{}
		}
		b = &bucket{}
		a.limits[addr] = b
	}
	b.take(now, loginBurst, loginRefill, true)
	a.global.take(now, globalBurst, globalRefill, true)
}

// attempt checks secret s for request r under the rate limit.
func (a *auth) attempt(r *http.Request, s string) bool {
	if ok, _ := a.allowed(r); !ok {
		return false
	}
	if a.checkSecret(s) {
		return true
	}
	a.failed(r)
	return false
}

func retryAfter(w http.ResponseWriter, wait time.Duration) {
	secs := int(wait/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}
