// Package immichtest holds a TEST DOUBLE of the Immich server's HTTP API —
// not Immich — limited to what immich-vault's quiesce code talks to, with
// the behaviour of the real server (v2.3+ up to v3.x) read in its source
// (immich-app/immich):
//
//   - server/src/main.ts: the process bootstraps the maintenance worker when
//     system_metadata "maintenance-mode" says isMaintenanceMode, else the
//     normal workers; an AppRestart makes it shut every worker down and
//     bootstrap again (the port refuses connections meanwhile).
//   - server/src/controllers/maintenance.controller.ts (normal server):
//     POST /api/admin/maintenance {"action":"start"} (admin API key with the
//     maintenance permission) stores a new secret, answers 2xx with the
//     cookie immich_maintenance_token = a HS256 JWT signed with that secret,
//     and restarts; {"action":"end"} on the normal server is a no-op that
//     still answers 2xx; POST /api/admin/maintenance/login answers 400 "Not
//     in maintenance mode".
//   - server/src/maintenance/maintenance-worker.controller.ts and
//     maintenance-worker.service.ts (worker): only server/{config,ping,
//     version}, admin/maintenance/{status,login} and POST admin/maintenance;
//     POST admin/maintenance needs the cookie (an API key gets 401 {"message":
//     "Missing JWT Token"}, a bad token 401 "Invalid JWT Token"); "end" stores
//     isMaintenanceMode=false and restarts; server/config says
//     maintenanceMode=true.
//   - GET /api/admin/maintenance/status needs no authentication and answers
//     {"active":bool,"action":"start"|"end"}.
//
// The persistent state (system_metadata's "maintenance-mode" value, and
// whether the immich_server container runs) lives in files in Dir, shared
// with the docker test double (internal/pgtest/testdata/bin/docker), whose
// `immich-admin enable-/disable-maintenance-mode` writes the same value and
// whose `docker stop/start immich_server` writes the container state; the
// server notices the change and restarts (or goes down), as the real CLI's
// one-shot AppRestart message and the real container do.
package immichtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is the Immich server double.
type Server struct {
	URL    string
	Dir    string // state shared with the docker double (IMMICH_DOUBLE_DIR)
	APIKey string
	// RestartDelay is how long the port refuses connections during a
	// restart (the real server: a few seconds).
	RestartDelay time.Duration
	Version      [3]int

	addr string
	mu   sync.Mutex
	srv  *http.Server
	mode string // "normal", "maintenance", "down"
	log  []string
	stop chan struct{}
	wg   sync.WaitGroup
}

// State files in Dir.
const (
	MaintenanceFile = "maintenance-mode.json" // system_metadata "maintenance-mode"
	ContainerFile   = "container"             // "running" or "stopped"
)

type maintenanceState struct {
	IsMaintenanceMode bool   `json:"isMaintenanceMode"`
	Secret            string `json:"secret,omitempty"`
}

// Start starts the double on a free port, running normally; it stops when
// the test ends.
func Start(t testing.TB, dir string) *Server {
	t.Helper()
	s := &Server{Dir: dir, APIKey: "test-api-key", RestartDelay: 1500 * time.Millisecond, Version: [3]int{3, 1, 0}, stop: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ContainerFile), []byte("running\n"), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.serve(ln)
	s.wg.Add(1)
	go s.watch()
	t.Cleanup(s.Close)
	return s
}

// Close stops the double.
func (s *Server) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	if s.srv != nil {
		s.srv.Close()
	}
	s.mu.Unlock()
}

// Mode is "normal", "maintenance" or "down" (restarting or stopped).
func (s *Server) Mode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// Log returns the requests seen ("METHOD PATH -> code").
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *Server) readState() maintenanceState {
	var st maintenanceState
	b, err := os.ReadFile(filepath.Join(s.Dir, MaintenanceFile))
	if err == nil {
		json.Unmarshal(b, &st)
	}
	return st
}

func (s *Server) writeState(st maintenanceState) {
	b, _ := json.Marshal(st)
	tmp := filepath.Join(s.Dir, MaintenanceFile+".tmp")
	os.WriteFile(tmp, b, 0o644)
	os.Rename(tmp, filepath.Join(s.Dir, MaintenanceFile))
}

// writeMode publishes the current mode in Dir/mode, which the docker
// double logs when the database is dumped.
func (s *Server) writeMode(m string) {
	tmp := filepath.Join(s.Dir, "mode.tmp")
	os.WriteFile(tmp, []byte(m+"\n"), 0o644)
	os.Rename(tmp, filepath.Join(s.Dir, "mode"))
}

func (s *Server) containerRunning() bool {
	b, _ := os.ReadFile(filepath.Join(s.Dir, ContainerFile))
	return strings.TrimSpace(string(b)) != "stopped"
}

// serve bootstraps like main.ts: the maintenance worker if the stored
// state says so, else the normal server.
func (s *Server) serve(ln net.Listener) {
	mode := "normal"
	if s.readState().IsMaintenanceMode {
		mode = "maintenance"
	}
	// Each incarnation answers as what it booted as, also for a request
	// still in flight when it is shut down.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handle(w, r, mode) })}
	s.mu.Lock()
	s.srv, s.mode = srv, mode
	s.log = append(s.log, "(up: "+mode+")")
	s.mu.Unlock()
	s.writeMode(mode)
	go srv.Serve(ln)
}

// down closes the port and every connection (the process exited).
func (s *Server) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.mode = nil, "down"
	s.log = append(s.log, "(down)")
	s.mu.Unlock()
	s.writeMode("down")
	if srv != nil {
		srv.Close()
	}
}

// watch models the restarts: a changed maintenance flag (AppRestart) or a
// container start/stop.
func (s *Server) watch() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		running := s.containerRunning()
		want := "normal"
		if s.readState().IsMaintenanceMode {
			want = "maintenance"
		}
		mode := s.Mode()
		switch {
		case !running && mode != "down":
			s.down()
		case running && mode == "down", running && mode != want:
			if mode != "down" {
				time.Sleep(50 * time.Millisecond) // the answer that triggered it goes out
				s.down()
			}
			s.sleep(s.RestartDelay)
			if !s.containerRunning() {
				continue
			}
			var ln net.Listener
			var err error
			for i := 0; i < 100; i++ {
				if ln, err = net.Listen("tcp", s.addr); err == nil {
					break
				}
				s.sleep(50 * time.Millisecond)
			}
			if err != nil {
				panic(fmt.Sprintf("immichtest: listen again on %s: %v", s.addr, err))
			}
			s.serve(ln)
		}
	}
}

func (s *Server) sleep(d time.Duration) {
	select {
	case <-s.stop:
	case <-time.After(d):
	}
}

func (s *Server) record(r *http.Request, code int) {
	s.mu.Lock()
	s.log = append(s.log, fmt.Sprintf("%s %s -> %d", r.Method, r.URL.Path, code))
	s.mu.Unlock()
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, code int, v any) {
	s.record(r, code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

func msg(m string, code int) map[string]any {
	return map[string]any{"message": m, "statusCode": code}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, mode string) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	ver := map[string]int{"major": s.Version[0], "minor": s.Version[1], "patch": s.Version[2]}
	switch {
	case r.Method == http.MethodGet && p == "/api/server/ping":
		s.reply(w, r, 200, map[string]string{"res": "pong"})
		return
	case r.Method == http.MethodGet && p == "/api/server/version":
		s.reply(w, r, 200, ver)
		return
	case r.Method == http.MethodGet && p == "/api/server/config":
		s.reply(w, r, 200, map[string]any{"isInitialized": true, "isOnboarded": true, "maintenanceMode": mode == "maintenance"})
		return
	case r.Method == http.MethodGet && p == "/api/admin/maintenance/status":
		if mode == "maintenance" {
			s.reply(w, r, 200, map[string]any{"active": true, "action": "start"})
		} else {
			s.reply(w, r, 200, map[string]any{"active": false, "action": "end"})
		}
		return
	}
	var body struct {
		Action string `json:"action"`
		Token  string `json:"token"`
	}
	if r.Method == http.MethodPost {
		json.NewDecoder(r.Body).Decode(&body)
	}
	if mode == "maintenance" {
		s.handleWorker(w, r, p, body.Action, body.Token)
		return
	}
	if r.Method == http.MethodPost && p == "/api/admin/maintenance/login" {
		s.reply(w, r, 400, msg("Not in maintenance mode", 400)) // no authentication on this route
		return
	}
	// The normal server: everything else needs the API key.
	if r.Header.Get("x-api-key") != s.APIKey {
		s.reply(w, r, 401, msg("Authentication required", 401))
		return
	}
	switch {
	case r.Method == http.MethodPost && p == "/api/admin/maintenance":
		switch body.Action {
		case "start":
			secret := randomHex(32)
			s.writeState(maintenanceState{IsMaintenanceMode: true, Secret: secret})
			http.SetCookie(w, &http.Cookie{Name: "immich_maintenance_token", Value: SignToken(secret, "admin"), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
			s.reply(w, r, 201, nil)
		case "end":
			s.reply(w, r, 201, nil) // not in maintenance mode: nothing to do, still 2xx
		default:
			s.reply(w, r, 400, msg("action must be one of: start, end, select_database_restore, restore_database", 400))
		}
	case r.Method == http.MethodGet && p == "/api/users/me":
		s.reply(w, r, 200, map[string]any{"id": "admin", "isAdmin": true})
	default:
		s.reply(w, r, 404, msg("Cannot "+r.Method+" "+p, 404))
	}
}

func (s *Server) handleWorker(w http.ResponseWriter, r *http.Request, p, action, token string) {
	st := s.readState()
	auth := func(tok string) bool {
		if tok == "" {
			s.reply(w, r, 401, msg("Missing JWT Token", 401))
			return false
		}
		if !VerifyToken(st.Secret, tok) {
			s.reply(w, r, 401, msg("Invalid JWT Token", 401))
			return false
		}
		return true
	}
	cookie := ""
	if c, err := r.Cookie("immich_maintenance_token"); err == nil {
		cookie = c.Value
	}
	switch {
	case r.Method == http.MethodPost && p == "/api/admin/maintenance/login":
		if token == "" {
			token = cookie
		}
		if auth(token) {
			http.SetCookie(w, &http.Cookie{Name: "immich_maintenance_token", Value: token, Path: "/"})
			s.reply(w, r, 201, map[string]string{"username": "admin"})
		}
	case r.Method == http.MethodPost && p == "/api/admin/maintenance":
		if !auth(cookie) {
			return
		}
		if action == "end" {
			s.writeState(maintenanceState{IsMaintenanceMode: false})
		}
		s.reply(w, r, 201, nil)
	default:
		// The worker has no other routes; an API key is not looked at.
		s.reply(w, r, 404, msg("Cannot "+r.Method+" "+p, 404))
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var b64 = base64.RawURLEncoding

// SignToken makes the HS256 JWT Immich signs with the maintenance secret
// (payload {"data":{"username":...}}).
func SignToken(secret, user string) string {
	h := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	p := b64.EncodeToString([]byte(`{"data":{"username":"` + user + `"}}`))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + b64.EncodeToString(m.Sum(nil))
}

// VerifyToken checks a HS256 JWT against the secret.
func VerifyToken(secret, tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || secret == "" {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := b64.DecodeString(parts[2])
	return err == nil && hmac.Equal(sig, m.Sum(nil))
}

// ErrNotNormal is returned by WaitNormal.
var ErrNotNormal = errors.New("immichtest: Immich is not running normally")

// WaitNormal waits (up to d) until the double runs normally with the
// container running, and says what it saw otherwise.
func (s *Server) WaitNormal(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		st := s.readState()
		if s.Mode() == "normal" && s.containerRunning() && !st.IsMaintenanceMode {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s: mode %s, container running %v, maintenance flag %v", ErrNotNormal, d, s.Mode(), s.containerRunning(), st.IsMaintenanceMode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
