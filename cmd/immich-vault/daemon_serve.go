package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/web"
)

// Jobs implements web.JobSource: the timeline of the web UI the daemon
// serves (daemon.serve) shows the jobs' history from it.
func (d *daemon) Jobs() []web.JobStatus {
	h := d.health()
	out := make([]web.JobStatus, 0, len(h.Jobs))
	for _, j := range h.Jobs {
		js := web.JobStatus{Name: j.Name, Schedule: j.Schedule, Command: j.Command, Next: j.Next, Runs: j.Runs, Failures: j.Failures, Refused: j.Refused}
		if l := j.Last; l != nil {
			js.Last = &web.JobRun{Start: l.Start, Duration: time.Duration(l.Seconds * float64(time.Second)), ExitCode: l.ExitCode, Status: l.Status}
		}
		out = append(out, js)
	}
	return out
}

// startWeb starts the web UI of daemon.serve, if configured, and returns
// the function that stops it (nil when there is none). It refuses to start
// without a usable password, and on a non-loopback address unless
// daemon.serve.allow_remote is set.
//
// The UI opens the repository with a temporary cache (NoCache): the
// persistent cache stays free for the jobs, which run as other processes.
func (d *daemon) startWeb(ctx context.Context) (stop func(), err error) {
	sc := d.cfg.Daemon.Serve
	if sc == nil {
		return nil, nil
	}
	secret, err := serveSecret(sc.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("daemon.serve: %w\n(daemon.serve.password_file in %s; docs/CONFIG.md)", err, d.cfg.Path)
	}
	immichKey, err := serveImmichKey(sc.ToImmich)
	if err != nil {
		return nil, fmt.Errorf("daemon.serve.to_immich: %w", err)
	}
	addr := sc.ListenAddr()
	if err := web.CheckAddr(addr, sc.AllowRemote); err != nil {
		return nil, fmt.Errorf("daemon.serve: %w\nThe web UI listens on loopback only unless daemon.serve.allow_remote is true (then put it behind a TLS reverse proxy).", err)
	}
	ln, err := web.Listen(addr, sc.AllowRemote)
	if err != nil {
		return nil, fmt.Errorf("daemon.serve: %w\nChoose another daemon.serve.listen address.", err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	open := func() (*web.Server, *repo.Repository, error) {
		opts := gopts.repoOptions()
		opts.NoCache = true
		r, err := openRepoWith(wctx, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("open the repository: %w", err)
		}
		srv, err := web.New(wctx, r, web.Options{
			Secret: secret, AllowRemote: sc.AllowRemote,
			Warn: func(msg string) { d.logf("web: %s", msg) }, Version: version,
			CacheDir: serveCacheDir(r), RestoreRoot: sc.RestoreRoot, Jobs: d,
			ImmichURL: sc.ToImmich, ImmichAPIKey: immichKey,
		})
		if err != nil {
			r.Close()
			return nil, nil, err
		}
		return srv, r, nil
	}
	// The UI's repository may be out of reach when the daemon starts (the
	// NAS share not mounted yet, S3 unreachable, the repository not yet
	// initialized by the first job). The daemon does not die for it: its
	// jobs run on schedule, the UI answers 503 with the reason, and the
	// repository is opened again every webRetry until it opens.
	var (
		mu      sync.Mutex
		srv     *web.Server
		r       *repo.Repository
		handler atomic.Pointer[http.Handler]
	)
	unavailable := func(err error) {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", fmt.Sprint(int(webRetry.Seconds())))
			http.Error(w, fmt.Sprintf("immich-vault daemon: the web UI cannot open the repository yet (%v); it tries again every %v, and the scheduled jobs run regardless. See the daemon's log.", err, webRetry), http.StatusServiceUnavailable)
		})
		handler.Store(&h)
	}
	ready := func(s *web.Server, rr *repo.Repository) {
		mu.Lock()
		srv, r = s, rr
		mu.Unlock()
		h := s.Handler()
		handler.Store(&h)
	}
	retryDone := make(chan struct{})
	if s, rr, err := open(); err == nil {
		ready(s, rr)
		close(retryDone)
	} else {
		d.logf("web UI: %v; it answers 503 and tries again every %v", err, webRetry)
		unavailable(err)
		go func() {
			defer close(retryDone)
			last := err.Error()
			for {
				select {
				case <-wctx.Done():
					return
				case <-time.After(webRetry):
				}
				s, rr, err := open()
				if err == nil {
					ready(s, rr)
					d.logf("web UI: the repository is open now")
					return
				}
				if err.Error() != last {
					d.logf("web UI: %v; trying again every %v", err, webRetry)
					last = err.Error()
				}
				unavailable(err)
			}
		}()
	}
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, rq *http.Request) { (*handler.Load()).ServeHTTP(w, rq) }),
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.logf("web UI: %v", err)
		}
	}()
	ta := ln.Addr().(*net.TCPAddr)
	d.logf("web UI on http://%s/", net.JoinHostPort(ta.IP.String(), fmt.Sprint(ta.Port)))
	if sc.AllowRemote && !ta.IP.IsLoopback() {
		d.logf("web UI serves plain HTTP on %s: put it behind a TLS reverse proxy", ta)
	}
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
		scancel()
		<-done
		cancel()
		<-retryDone
		mu.Lock()
		defer mu.Unlock()
		if srv != nil {
			srv.Close()
			r.Close()
		}
	}, nil
}

// webRetry is how often the daemon's web UI tries again to open a
// repository it could not open (IMMICH_VAULT_TEST_DAEMON_WEB_RETRY overrides it
// for tests).
var webRetry = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("IMMICH_VAULT_TEST_DAEMON_WEB_RETRY")); err == nil && d > 0 {
		return d
	}
	return time.Minute
}()

var _ web.JobSource = (*daemon)(nil)
