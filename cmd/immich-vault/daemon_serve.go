package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

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
	opts := gopts.repoOptions()
	opts.NoCache = true
	r, err := openRepoWith(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("daemon.serve: open the repository: %w", err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv, err := web.New(wctx, r, web.Options{
		Secret: secret, AllowRemote: sc.AllowRemote,
		Warn: func(msg string) { d.logf("web: %s", msg) }, Version: version,
		CacheDir: serveCacheDir(r), RestoreRoot: sc.RestoreRoot, Jobs: d,
		ImmichURL: sc.ToImmich, ImmichAPIKey: immichKey,
	})
	if err != nil {
		cancel()
		r.Close()
		return nil, fmt.Errorf("daemon.serve: %w", err)
	}
	ln, err := web.Listen(addr, sc.AllowRemote)
	if err != nil {
		cancel()
		srv.Close()
		r.Close()
		return nil, fmt.Errorf("daemon.serve: %w\nChoose another daemon.serve.listen address.", err)
	}
	hs := srv.HTTPServer()
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
		srv.Close()
		r.Close()
	}, nil
}

var _ web.JobSource = (*daemon)(nil)
