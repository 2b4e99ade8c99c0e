package immich

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/internal/proc"
)

// Quiesce modes.
const (
	QuiesceNone        = "none"
	QuiesceStop        = "stop"        // docker stop immich_server ... docker start immich_server
	QuiesceMaintenance = "maintenance" // maintenance mode (Immich v2.3+), through the API or immich-admin
)

// Quiesce methods recorded in the quiesce record.
const (
	methodDockerStop  = "docker-stop"
	methodAPI         = "api"          // POST /api/admin/maintenance, ended with the maintenance token
	methodImmichAdmin = "immich-admin" // docker exec immich_server immich-admin enable-/disable-maintenance-mode
)

// MaintenanceCookie is the cookie in which Immich returns the maintenance
// token (a JWT) to `POST /api/admin/maintenance {"action":"start"}`
// (server/src/controllers/maintenance.controller.ts).
const MaintenanceCookie = "immich_maintenance_token"

// Errors of quiescing.
var (
	// ErrQuiesceUnsupported: the Immich version has no maintenance mode.
	ErrQuiesceUnsupported = errors.New("immich: maintenance mode needs Immich v2.3.0 or later")
	// ErrStillQuiesced: undoing the quiesce failed; Immich may still be
	// stopped or in maintenance mode (the error says how to get out).
	ErrStillQuiesced = errors.New("immich: quiesce could not be undone")
)

// Quiescer pauses Immich so uploads cannot change files while they are
// copied, and undoes it afterwards.
//
// Maintenance mode works the way the Immich server does it (v2.3+, read in
// immich-app/immich server/src/controllers/maintenance.controller.ts,
// server/src/maintenance/*, server/src/main.ts, services/cli.service.ts):
// "start" answers 2xx and sets the cookie immich_maintenance_token; the
// server then re-bootstraps as a maintenance worker (its port refuses
// connections for a few seconds); the worker rejects API keys (401 "Missing
// JWT Token") and ends maintenance only for a request carrying that token;
// "end" on the normal server is a no-op that still answers 2xx. So Pause
// keeps the token, waits until the worker answers, and resume ends with the
// token and waits until the normal server answers again.
type Quiescer struct {
	Mode      string
	Docker    string // docker binary ("" = "docker")
	Container string // immich_server
	// URL is Immich's base URL (http://127.0.0.1:2283). Maintenance mode
	// needs it to watch the restart (GET /api/admin/maintenance/status,
	// /api/server/config and /api/server/ping need no authentication); with
	// APIKey, maintenance mode goes through the API, otherwise through
	// `docker exec immich_server immich-admin`. With --quiesce stop it is
	// optional: when set, resume waits until the server answers again.
	URL    string
	APIKey string
	Client *http.Client
	// StartTimeout bounds the wait for the maintenance worker (default 3
	// minutes); ResumeTimeout bounds the undo step including the wait for
	// the normal server (default 3 minutes).
	StartTimeout  time.Duration
	ResumeTimeout time.Duration
	// Poll is the interval between status probes (default 250 ms).
	Poll time.Duration
	// Journal, when set, records the quiesce before it starts and until it
	// is undone, so that a killed run is undone later (RecoverQuiesce).
	Journal *Journal
	// Log receives progress notes.
	Log func(format string, args ...any)
}

// ParseQuiesce validates a --quiesce value.
func ParseQuiesce(s string) (string, error) {
	switch s {
	case "", QuiesceNone:
		return QuiesceNone, nil
	case QuiesceStop, QuiesceMaintenance:
		return s, nil
	}
	return "", fmt.Errorf("unknown quiesce mode %q (want maintenance, stop or none)", s)
}

func (q *Quiescer) logf(format string, args ...any) {
	if q.Log != nil {
		q.Log(format, args...)
	}
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// QuiesceRecord is what the quiesce journal holds while Immich is quiesced:
// enough to undo it from another process (see RecoverQuiesce).
type QuiesceRecord struct {
	Version   int       `json:"version"`
	Mode      string    `json:"mode"`
	Method    string    `json:"method"`
	Container string    `json:"container,omitempty"`
	Docker    string    `json:"docker,omitempty"`
	URL       string    `json:"url,omitempty"`
	Token     string    `json:"token,omitempty"` // maintenance token (secret: the file is 0600)
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Started   time.Time `json:"started"`
}

// quiescer rebuilds a Quiescer able to undo rec.
func (rec *QuiesceRecord) quiescer(base *Quiescer) *Quiescer {
	q := &Quiescer{}
	if base != nil {
		*q = *base
	}
	q.Mode, q.Container, q.URL = rec.Mode, rec.Container, rec.URL
	if rec.Docker != "" {
		q.Docker = rec.Docker
	}
	return q
}

// ManualWayOut tells a person how to undo a quiesce by hand.
func (rec *QuiesceRecord) ManualWayOut() string {
	c := rec.Container
	if c == "" {
		c = "immich_server"
	}
	switch rec.Mode {
	case QuiesceStop:
		return fmt.Sprintf("start Immich by hand: docker start %s", c)
	case QuiesceMaintenance:
		return fmt.Sprintf("take Immich out of maintenance mode by hand: docker exec %s immich-admin disable-maintenance-mode "+
			"(Kubernetes: kubectl exec deploy/immich-server -- immich-admin disable-maintenance-mode), "+
			"or open the maintenance login URL printed in `docker logs %s` and end maintenance mode in the web page; "+
			"then check: curl -s %s/api/admin/maintenance/status shows \"active\":false", c, c, orDefaultURL(rec.URL))
	}
	return "check that Immich runs normally"
}

func orDefaultURL(u string) string {
	if u == "" {
		return "http://127.0.0.1:2283"
	}
	return strings.TrimSuffix(u, "/")
}

// Pause quiesces Immich and returns the function that undoes it. The
// returned function ignores ctx's cancellation (it must run after a Ctrl-C:
// it uses a fresh context bounded by ResumeTimeout), is safe to call more
// than once and from several goroutines; call it in a defer right away.
// When Pause fails, it has already undone whatever it started (or its error
// wraps ErrStillQuiesced and says how to get out).
func (q *Quiescer) Pause(ctx context.Context) (resume func() error, err error) {
	noop := func() error { return nil }
	switch q.Mode {
	case "", QuiesceNone:
		return noop, nil
	case QuiesceStop:
		return q.pauseStop(ctx)
	case QuiesceMaintenance:
		return q.pauseMaintenance(ctx)
	}
	return noop, fmt.Errorf("unknown quiesce mode %q", q.Mode)
}

// begin writes the record before anything is changed.
func (q *Quiescer) begin(rec *QuiesceRecord) error {
	if q.Journal == nil {
		return nil
	}
	if err := q.Journal.Write(rec); err != nil {
		return fmt.Errorf("record the quiesce before starting it (nothing was changed): %w", err)
	}
	return nil
}

// undoer wraps the undo step: once, fresh bounded context, record removed
// only after success, manual way out in the error otherwise.
func (q *Quiescer) undoer(rec *QuiesceRecord, fn func(ctx context.Context) error) func() error {
	var (
		once sync.Once
		err  error
	)
	return func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), durOr(q.ResumeTimeout, 3*time.Minute))
			defer cancel()
			if err = fn(ctx); err != nil {
				err = fmt.Errorf("%w: %v\n%s", ErrStillQuiesced, err, rec.ManualWayOut())
				if q.Journal != nil {
					err = fmt.Errorf("%w\n(or run `immich-vault immich resume`: the record %s is kept)", err, q.Journal.Path())
				}
				return
			}
			if q.Journal != nil {
				if jerr := q.Journal.Clear(); jerr != nil {
					q.logf("warning: could not remove the quiesce record %s: %v", q.Journal.Path(), jerr)
				}
			}
		})
		return err
	}
}

func (q *Quiescer) newRecord(method string) *QuiesceRecord {
	return &QuiesceRecord{Version: 1, Mode: q.Mode, Method: method, Container: q.Container, Docker: q.Docker, URL: q.URL, Started: time.Now().UTC()}
}

func (q *Quiescer) pauseStop(ctx context.Context) (func() error, error) {
	rec := q.newRecord(methodDockerStop)
	if q.URL != "" {
		// Wait for the server after docker start only if it answers now.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if ok, _ := q.ping(pctx); !ok {
			rec.URL = ""
		}
		cancel()
	}
	if err := q.begin(rec); err != nil {
		return func() error { return nil }, err
	}
	resume := q.undoer(rec, func(ctx context.Context) error { return rec.quiescer(q).undoStop(ctx) })
	q.logf("stopping %s", q.Container)
	if err := q.docker(ctx, "stop", q.Container); err != nil {
		// It may be half stopped: start it again.
		if rerr := resume(); rerr != nil {
			return resume, fmt.Errorf("stop %s: %w; %w", q.Container, err, rerr)
		}
		return resume, fmt.Errorf("stop %s: %w", q.Container, err)
	}
	return resume, nil
}

func (q *Quiescer) undoStop(ctx context.Context) error {
	q.logf("starting %s", q.Container)
	if err := retry(ctx, q.poll(), 3, func() error { return q.docker(ctx, "start", q.Container) }); err != nil {
		return fmt.Errorf("docker start %s: %w", q.Container, err)
	}
	if q.URL == "" {
		return nil
	}
	// Immich runs its migrations before it answers: wait for it, but a
	// started container that answers late is not a failure of the backup.
	err := q.waitFor(ctx, "the server to answer /api/server/ping", func(ctx context.Context) (bool, string) {
		ok, what := q.ping(ctx)
		return ok, what
	})
	if err != nil {
		q.logf("warning: %s was started but %v", q.Container, err)
	}
	return nil
}

// retry runs fn up to n times while it fails.
func retry(ctx context.Context, pause time.Duration, n int, fn func() error) error {
	var err error
	for i := 0; i < n; i++ {
		if err = fn(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
	}
	return err
}

func (q *Quiescer) poll() time.Duration { return durOr(q.Poll, 250*time.Millisecond) }

// pauseMaintenance enters maintenance mode and waits until the
// maintenance worker answers.
func (q *Quiescer) pauseMaintenance(ctx context.Context) (func() error, error) {
	noop := func() error { return nil }
	if q.URL == "" {
		return noop, errors.New("maintenance mode needs Immich's URL to watch the server restart into the maintenance worker: give --immich-url (e.g. http://127.0.0.1:2283), or use --quiesce stop")
	}
	probeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	v, err := q.version(probeCtx)
	cancel()
	if err != nil {
		return noop, fmt.Errorf("maintenance mode: read the Immich version at %s/api/server/version: %w (is --immich-url right and Immich running?)", q.URL, err)
	}
	if !v.atLeast(2, 3) {
		return noop, fmt.Errorf("%w; %s runs %s: use --quiesce stop", ErrQuiesceUnsupported, q.URL, v)
	}
	st, err := q.status(ctx)
	if err != nil {
		return noop, fmt.Errorf("maintenance mode: read %s/api/admin/maintenance/status: %w", q.URL, err)
	}
	if st.Active {
		q.logf("Immich is already in maintenance mode (not entered by this backup): leaving it as it is")
		return noop, nil
	}
	method := methodImmichAdmin
	if q.APIKey != "" {
		method = methodAPI
	}
	rec := q.newRecord(method)
	if err := q.begin(rec); err != nil {
		return noop, err
	}
	resume := q.undoer(rec, func(ctx context.Context) error { return q.endMaintenance(ctx, rec) })
	fail := func(err error) (func() error, error) {
		if rerr := resume(); rerr != nil {
			return resume, fmt.Errorf("%w; %w", err, rerr)
		}
		return resume, err
	}
	q.logf("entering maintenance mode (Immich %s, %s)", v, method)
	if method == methodAPI {
		token, err := q.startAPI(ctx)
		if token != "" {
			rec.Token = token
			if q.Journal != nil {
				if jerr := q.Journal.Write(rec); jerr != nil {
					q.logf("warning: could not record the maintenance token: %v", jerr)
				}
			}
		}
		if err != nil {
			return fail(fmt.Errorf("enter maintenance mode: %w", err))
		}
	} else {
		out, err := q.dockerOut(ctx, "exec", q.Container, "immich-admin", "enable-maintenance-mode")
		if err != nil {
			return fail(fmt.Errorf("enter maintenance mode: %w", err))
		}
		// immich-admin prints the login URL, which holds a token.
		if m := tokenRe.FindStringSubmatch(out); m != nil {
			rec.Token = m[1]
		}
	}
	wctx, cancel := context.WithTimeout(ctx, durOr(q.StartTimeout, 3*time.Minute))
	defer cancel()
	err = q.waitFor(wctx, "the maintenance worker", func(ctx context.Context) (bool, string) {
		return q.inMaintenance(ctx, rec.Token)
	})
	if err != nil {
		return fail(fmt.Errorf("enter maintenance mode: %w", err))
	}
	q.logf("Immich is in maintenance mode")
	return resume, nil
}

var tokenRe = regexp.MustCompile(`[?&]token=([A-Za-z0-9_\-\.]+)`)

// inMaintenance reports whether the maintenance worker answers: status
// active, server config maintenanceMode true, and (with a token) the token
// accepted by POST /api/admin/maintenance/login.
func (q *Quiescer) inMaintenance(ctx context.Context, token string) (bool, string) {
	st, err := q.status(ctx)
	if err != nil {
		return false, err.Error()
	}
	if !st.Active {
		return false, "status says active=false"
	}
	mm, err := q.configMaintenance(ctx)
	if err != nil {
		return false, err.Error()
	}
	if !mm {
		return false, "server config says maintenanceMode=false (the normal server still answers)"
	}
	if token != "" {
		code, body, err := q.request(ctx, http.MethodPost, "/api/admin/maintenance/login", fmt.Sprintf(`{"token":%q}`, token), nil)
		if err != nil {
			return false, err.Error()
		}
		if code/100 != 2 {
			return false, fmt.Sprintf("maintenance login with the token: HTTP %d %s", code, clipBody(body))
		}
	}
	return true, ""
}

// endMaintenance leaves maintenance mode and waits for the normal server.
func (q *Quiescer) endMaintenance(ctx context.Context, rec *QuiesceRecord) error {
	q.logf("leaving maintenance mode")
	var errs []error
	ended := false
	if rec.Token != "" && rec.Method == methodAPI {
		err := q.endAPI(ctx, rec.Token)
		if err == nil {
			ended = true
		} else {
			errs = append(errs, err)
		}
	}
	if !ended && q.Container != "" {
		// immich-admin needs no token; after a failed API call it is the
		// way out that remains.
		err := retry(ctx, q.poll(), 3, func() error {
			_, err := q.dockerOut(ctx, "exec", q.Container, "immich-admin", "disable-maintenance-mode")
			return err
		})
		if err == nil {
			ended = true
		} else {
			errs = append(errs, fmt.Errorf("immich-admin disable-maintenance-mode: %w", err))
		}
	}
	if !ended {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no maintenance token and no server container to end it with"))
		}
		return errors.Join(errs...)
	}
	return q.waitFor(ctx, "the normal server", q.normal)
}

// normal reports whether the normal server answers: status inactive, server
// config maintenanceMode false, ping answered.
func (q *Quiescer) normal(ctx context.Context) (bool, string) {
	st, err := q.status(ctx)
	if err != nil {
		return false, err.Error()
	}
	if st.Active {
		return false, "status says active=true"
	}
	mm, err := q.configMaintenance(ctx)
	if err != nil {
		return false, err.Error()
	}
	if mm {
		return false, "server config says maintenanceMode=true"
	}
	return q.ping(ctx)
}

func (q *Quiescer) ping(ctx context.Context) (bool, string) {
	code, body, err := q.request(ctx, http.MethodGet, "/api/server/ping", "", nil)
	if err != nil {
		return false, err.Error()
	}
	var p struct {
		Res string `json:"res"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &p) != nil || p.Res != "pong" {
		return false, fmt.Sprintf("GET /api/server/ping: HTTP %d %s", code, clipBody(body))
	}
	return true, ""
}

// waitFor polls cond until it holds or ctx ends; the error names the last
// state seen.
func (q *Quiescer) waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string)) error {
	start := time.Now()
	var last string
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, seen := cond(pctx)
		cancel()
		if ok {
			q.logf("%s answered after %s", what, time.Since(start).Round(time.Millisecond))
			return nil
		}
		last = seen
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s for %s; last seen: %s", time.Since(start).Round(time.Second), what, last)
		case <-time.After(q.poll()):
		}
	}
}

func (q *Quiescer) startAPI(ctx context.Context) (token string, err error) {
	code, body, cookies, err := q.requestCookies(ctx, http.MethodPost, "/api/admin/maintenance", `{"action":"start"}`, map[string]string{"x-api-key": q.APIKey})
	for _, c := range cookies {
		if c.Name == MaintenanceCookie && c.Value != "" {
			token = c.Value
		}
	}
	if err != nil {
		return token, err
	}
	if code/100 != 2 {
		hint := ""
		if code == http.StatusUnauthorized || code == http.StatusForbidden {
			hint = " (the API key needs an admin user and the maintenance permission)"
		}
		return token, fmt.Errorf("POST /api/admin/maintenance start: HTTP %d %s%s", code, clipBody(body), hint)
	}
	if token == "" {
		return "", fmt.Errorf("POST /api/admin/maintenance start answered HTTP %d without the %s cookie (a proxy stripping cookies?): the tool cannot end maintenance mode through the API", code, MaintenanceCookie)
	}
	return token, nil
}

func (q *Quiescer) endAPI(ctx context.Context, token string) error {
	hdr := map[string]string{"Cookie": MaintenanceCookie + "=" + token}
	var lastErr error
	// The worker may still be coming up, or the first answer may be cut
	// by the restart it triggers: retry until status says it ended.
	for i := 0; i < 5; i++ {
		code, body, err := q.request(ctx, http.MethodPost, "/api/admin/maintenance", `{"action":"end"}`, hdr)
		switch {
		case err == nil && code/100 == 2:
			return nil
		case err == nil:
			lastErr = fmt.Errorf("POST /api/admin/maintenance end: HTTP %d %s", code, clipBody(body))
			if code == http.StatusUnauthorized {
				return lastErr // token no longer valid (the secret was regenerated)
			}
		default:
			lastErr = fmt.Errorf("POST /api/admin/maintenance end: %w", err)
			if st, serr := q.status(ctx); serr == nil && !st.Active {
				return nil // it ended (the answer was lost in the restart)
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(lastErr, ctx.Err())
		case <-time.After(q.poll()):
		}
	}
	return lastErr
}

type maintenanceStatus struct {
	Active bool   `json:"active"`
	Action string `json:"action"`
}

func (q *Quiescer) status(ctx context.Context) (*maintenanceStatus, error) {
	code, body, err := q.request(ctx, http.MethodGet, "/api/admin/maintenance/status", "", nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /api/admin/maintenance/status: HTTP %d %s", code, clipBody(body))
	}
	var st maintenanceStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("GET /api/admin/maintenance/status: %w", err)
	}
	return &st, nil
}

func (q *Quiescer) configMaintenance(ctx context.Context) (bool, error) {
	code, body, err := q.request(ctx, http.MethodGet, "/api/server/config", "", nil)
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("GET /api/server/config: HTTP %d %s", code, clipBody(body))
	}
	var c struct {
		MaintenanceMode bool `json:"maintenanceMode"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return false, fmt.Errorf("GET /api/server/config: %w", err)
	}
	return c.MaintenanceMode, nil
}

// ServerVersion is Immich's /api/server/version answer.
type ServerVersion struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
	Patch int `json:"patch"`
}

func (v ServerVersion) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

func (v ServerVersion) atLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

func (q *Quiescer) version(ctx context.Context) (ServerVersion, error) {
	var v ServerVersion
	code, body, err := q.request(ctx, http.MethodGet, "/api/server/version", "", nil)
	if err != nil {
		return v, err
	}
	if code != http.StatusOK {
		return v, fmt.Errorf("HTTP %d %s", code, clipBody(body))
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, err
	}
	return v, nil
}

func (q *Quiescer) request(ctx context.Context, method, path, body string, hdr map[string]string) (int, []byte, error) {
	code, b, _, err := q.requestCookies(ctx, method, path, body, hdr)
	return code, b, err
}

func (q *Quiescer) requestCookies(ctx context.Context, method, path, body string, hdr map[string]string) (int, []byte, []*http.Cookie, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(q.URL, "/")+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := q.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, resp.Cookies(), err
}

func clipBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (q *Quiescer) docker(ctx context.Context, args ...string) error {
	_, err := q.dockerOut(ctx, args...)
	return err
}

func (q *Quiescer) dockerOut(ctx context.Context, args ...string) (string, error) {
	bin := q.Docker
	if bin == "" {
		bin = "docker"
	}
	cmd := proc.Command(ctx, bin, args...)
	var out proc.TailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), proc.CmdError("docker "+strings.Join(args, " "), err, &out)
	}
	return out.String(), nil
}

// RecoverQuiesce undoes the quiesce recorded in j by a run that is gone
// (the caller holds j's lock, so its owner is dead). It returns the
// record it acted on (nil: there was none).
func RecoverQuiesce(ctx context.Context, j *Journal, base *Quiescer) (*QuiesceRecord, error) {
	rec, err := j.Read()
	if err != nil || rec == nil {
		return rec, err
	}
	q := rec.quiescer(base)
	q.Journal = j
	var undo func(ctx context.Context) error
	switch rec.Mode {
	case QuiesceStop:
		undo = q.undoStop
	case QuiesceMaintenance:
		undo = func(ctx context.Context) error {
			if q.URL != "" {
				if st, err := q.status(ctx); err == nil && !st.Active {
					if ok, _ := q.normal(ctx); ok {
						return nil // already out of maintenance mode
					}
				}
			}
			return q.endMaintenance(ctx, rec)
		}
	default:
		return rec, fmt.Errorf("quiesce record %s: unknown mode %q", j.Path(), rec.Mode)
	}
	return rec, q.undoer(rec, undo)()
}

// ImageTag is the IMMICH_VERSION value for a version read from the
// database ("3.1.0" → "v3.1.0": Immich's image tags carry the v).
func ImageTag(version string) string {
	if version == "" || strings.HasPrefix(version, "v") || version[0] < '0' || version[0] > '9' {
		return version
	}
	return "v" + version
}
