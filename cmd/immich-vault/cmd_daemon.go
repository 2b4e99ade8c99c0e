package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/immich-vault/immich-vault/internal/config"
	"github.com/immich-vault/immich-vault/internal/proc"
)

func init() { register(newDaemonCmd) }

const daemonHelp = `Run the jobs of the configuration file's daemon: section on their cron
schedules, for containers and hosts without cron or systemd timers:

  daemon:
    listen: 127.0.0.1:9810     # /healthz, and /metrics with metrics: true
    metrics: true
    jobs:
      - name: nightly
        schedule: "30 3 * * *"    # cron: minute hour day month weekday
        command: [run]            # the default
      - name: full-check
        schedule: "0 5 1 * *"
        command: [check, --read-data]

Each job runs as a child process: immich-vault --config FILE COMMAND...,
with this process's environment and global flags. Never two jobs at once:
a job due while another runs is refused and logged (and counted in
/metrics); it runs at its next scheduled time.

SIGTERM or SIGINT stops the daemon: no job starts any more, the running job
gets the same signal and stops the way the command does on its own (run and
immich backup bring Immich back out of maintenance or start it again), and
the daemon exits 0 once it has ended.

/healthz answers 200 with a JSON document (each job's schedule, next run,
last run and exit code) as long as the scheduler runs; /metrics is
Prometheus text: the daemon's counters and, if metrics_file is set, the
last run's metrics. Both listen on loopback unless daemon.allow_remote is
true (docs/CONFIG.md).

With daemon.serve (listen, password_file, restore_root, allow_remote) the
daemon also serves the web UI of immich-vault serve, whose timeline then
shows the jobs' history; it refuses to start without the password file.`

func newDaemonCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon --config FILE",
		Short: "Run the configured jobs on cron schedules, one at a time, with a health and metrics endpoint",
		Long:  daemonHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := newDaemon(cmd)
			if err != nil {
				return err
			}
			return d.serve(cmd.Context())
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "health",
		Short: "Ask the running daemon's /healthz (exit 0 when it answers 200): for container health checks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return daemonHealth(cmd.Context())
		},
	})
	return cmd
}

// daemonJob is one scheduled job and what happened to it.
type daemonJob struct {
	config.Job
	sched    cron.Schedule
	runs     int
	failures int
	refused  int
	last     *jobRun
	lastOK   time.Time
}

// jobRun is one run of a job.
type jobRun struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitempty"`
	ExitCode int       `json:"exit_code"`
	Status   string    `json:"status"` // running, ok, partial, failed, interrupted
	Seconds  float64   `json:"duration_seconds"`
}

type daemon struct {
	cfg     *config.File
	exe     string
	globals []string // global flags passed on to the jobs
	started time.Time
	jobs    []*daemonJob

	busy sync.Mutex // held while a job runs: never two at once

	mu       sync.Mutex // guards what follows and the jobs' counters
	stopping bool
	running  *daemonJob
	child    *exec.Cmd
	listen   string // the address actually served
}

func newDaemon(cmd *cobra.Command) (*daemon, error) {
	cfg := gopts.cfg
	if cfg == nil {
		return nil, errors.New("daemon needs a configuration file with a daemon: section: give --config FILE or set IMMICH_VAULT_CONFIG (docs/CONFIG.md)")
	}
	if cfg.Daemon == nil || len(cfg.Daemon.Jobs) == 0 {
		return nil, fmt.Errorf("%s has no daemon.jobs: nothing to schedule.\nAdd for example\n  daemon:\n    jobs:\n      - name: nightly\n        schedule: \"30 3 * * *\"\n(docs/CONFIG.md)", cfg.Path)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("daemon: cannot find its own program to run the jobs: %w", err)
	}
	d := &daemon{cfg: cfg, exe: exe, started: time.Now()}
	root := cmd.Root()
	root.PersistentFlags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "config", "cpu-profile", "trace":
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				d.globals = append(d.globals, "--"+f.Name+"="+v)
			}
			return
		}
		d.globals = append(d.globals, "--"+f.Name+"="+f.Value.String())
	})
	for _, j := range cfg.Daemon.Jobs {
		sched, err := config.ParseSchedule(j.Schedule)
		if err != nil { // checked when the file was read; kept for safety
			return nil, fmt.Errorf("daemon job %s: %w", j.Name, err)
		}
		if c, _, err := root.Find(j.Args()); err != nil || c == root || !c.Runnable() {
			return nil, fmt.Errorf("daemon job %s: %q is not an immich-vault command (see immich-vault --help)", j.Name, strings.Join(j.Args(), " "))
		}
		d.jobs = append(d.jobs, &daemonJob{Job: j, sched: sched})
	}
	return d, nil
}

func (d *daemon) logf(format string, args ...any) {
	fmt.Fprintf(gopts.stderr, "%s daemon: %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

func (d *daemon) serve(ctx context.Context) error {
	var srv *http.Server
	if addr := d.cfg.Daemon.ListenAddr(); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("daemon: health endpoint: %w\nChoose another daemon.listen address (or `listen: off`)", err)
		}
		d.listen = ln.Addr().String()
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", d.handleHealth)
		if d.cfg.Daemon.Metrics {
			mux.HandleFunc("/metrics", d.handleMetrics)
		}
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		what := "health on http://" + d.listen + "/healthz"
		if d.cfg.Daemon.Metrics {
			what += ", metrics on http://" + d.listen + "/metrics"
		}
		d.logf("%s", what)
	}
	stopWeb, err := d.startWeb(ctx)
	if err != nil {
		if srv != nil {
			srv.Close()
		}
		return err
	}
	c := cron.New(cron.WithLogger(cron.DiscardLogger), cron.WithLocation(time.Local))
	for _, j := range d.jobs {
		j := j
		c.Schedule(j.sched, cron.FuncJob(func() { d.fire(j) }))
		d.logf("job %s: schedule %q, command %q, next at %s", j.Name, j.Schedule, strings.Join(j.Args(), " "), j.sched.Next(time.Now()).Format(time.RFC3339))
	}
	c.Start()
	<-ctx.Done()

	// Stop: no new job; the running one gets the signal we got.
	stopped := c.Stop()
	sig := syscall.SIGTERM
	if s := received.Load(); s != nil {
		sig = *s
	}
	d.mu.Lock()
	d.stopping = true
	if d.child != nil {
		d.logf("%s received: stopping job %s (pid %d) with %s; waiting for it to end", signalName(sig), d.running.Name, d.child.Process.Pid, signalName(sig))
		if err := d.child.Process.Signal(sig); err != nil {
			d.logf("job %s: %v", d.running.Name, err)
		}
	} else {
		d.logf("%s received: no job running", signalName(sig))
	}
	d.mu.Unlock()
	<-stopped.Done()
	if stopWeb != nil {
		stopWeb()
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	d.logf("stopped")
	return nil
}

// fire runs job j unless another job runs (then the fire is refused).
func (d *daemon) fire(j *daemonJob) {
	if !d.busy.TryLock() {
		d.mu.Lock()
		j.refused++
		other, since := "", time.Time{}
		if d.running != nil {
			other, since = d.running.Name, d.running.last.Start
		}
		d.mu.Unlock()
		d.logf("job %s is due but job %s runs since %s: refused (never two jobs at once); next at %s", j.Name, other, since.Format(time.RFC3339), j.sched.Next(time.Now()).Format(time.RFC3339))
		return
	}
	defer d.busy.Unlock()
	args := append(append([]string{"--config", d.cfg.Path}, d.globals...), j.Args()...)
	// Own process group (proc.Command): a terminal's Ctrl-C reaches the
	// daemon, which passes it on once; the background context is never
	// cancelled, so the job is only ever stopped by that signal.
	x := proc.Command(context.Background(), d.exe, args...)
	x.Stdout, x.Stderr = gopts.stdout, gopts.stderr
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		return
	}
	run := &jobRun{Start: time.Now(), Status: "running"}
	if err := x.Start(); err != nil {
		d.mu.Unlock()
		d.logf("job %s: cannot start %s: %v", j.Name, d.exe, err)
		return
	}
	j.last, d.running, d.child = run, j, x
	d.mu.Unlock()
	d.logf("job %s started (pid %d): immich-vault %s", j.Name, x.Process.Pid, strings.Join(args, " "))

	err := x.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		code = exitFailure
	}
	d.mu.Lock()
	run.End = time.Now()
	run.ExitCode = code
	run.Seconds = run.End.Sub(run.Start).Seconds()
	switch {
	case code == exitOK:
		run.Status = "ok"
	case code == exitPartial:
		run.Status = "partial"
	case code > 128:
		run.Status = "interrupted"
	default:
		run.Status = "failed"
	}
	j.runs++
	if code == exitOK || code == exitPartial {
		j.lastOK = run.End
	} else {
		j.failures++
	}
	d.running, d.child = nil, nil
	stopping := d.stopping
	d.mu.Unlock()
	next := "next at " + j.sched.Next(time.Now()).Format(time.RFC3339)
	if stopping {
		next = "the daemon is stopping"
	}
	d.logf("job %s %s (exit %d) after %s; %s", j.Name, run.Status, code, run.End.Sub(run.Start).Round(time.Millisecond), next)
}

// healthDoc is /healthz's answer.
type healthDoc struct {
	Status  string      `json:"status"` // ok, stopping
	Started time.Time   `json:"started"`
	Running string      `json:"running,omitempty"`
	Jobs    []healthJob `json:"jobs"`
}

type healthJob struct {
	Name     string    `json:"name"`
	Schedule string    `json:"schedule"`
	Command  []string  `json:"command"`
	Next     time.Time `json:"next"`
	Runs     int       `json:"runs"`
	Failures int       `json:"failures"`
	Refused  int       `json:"refused"`
	Last     *jobRun   `json:"last,omitempty"`
}

func (d *daemon) health() healthDoc {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := healthDoc{Status: "ok", Started: d.started.Truncate(time.Second), Jobs: []healthJob{}}
	if d.stopping {
		h.Status = "stopping"
	}
	if d.running != nil {
		h.Running = d.running.Name
	}
	now := time.Now()
	for _, j := range d.jobs {
		hj := healthJob{Name: j.Name, Schedule: j.Schedule, Command: j.Args(), Next: j.sched.Next(now), Runs: j.runs, Failures: j.failures, Refused: j.refused}
		if j.last != nil {
			l := *j.last
			if l.Status == "running" {
				l.Seconds = now.Sub(l.Start).Seconds()
			}
			hj.Last = &l
		}
		h.Jobs = append(h.Jobs, hj)
	}
	return h
}

func (d *daemon) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := d.health()
	w.Header().Set("Content-Type", "application/json")
	if h.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(h)
}

func (d *daemon) handleMetrics(w http.ResponseWriter, r *http.Request) {
	h := d.health()
	var b strings.Builder
	metric := func(name, help, typ string, rows func(add func(labels string, v float64))) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		rows(func(labels string, v float64) {
			fmt.Fprintf(&b, "%s%s %s\n", name, labels, strconv.FormatFloat(v, 'g', -1, 64))
		})
	}
	perJob := func(name, help, typ string, val func(j healthJob) (float64, bool)) {
		metric(name, help, typ, func(add func(string, float64)) {
			for _, j := range h.Jobs {
				if v, ok := val(j); ok {
					add(`{job="`+promLabel(j.Name)+`"}`, v)
				}
			}
		})
	}
	metric("immich_vault_daemon_start_time_seconds", "When the daemon started (Unix time).", "gauge", func(add func(string, float64)) {
		add("", float64(h.Started.Unix()))
	})
	perJob("immich_vault_daemon_job_running", "1 while the job runs.", "gauge", func(j healthJob) (float64, bool) {
		if j.Name == h.Running {
			return 1, true
		}
		return 0, true
	})
	perJob("immich_vault_daemon_job_runs_total", "Runs of the job that ended.", "counter", func(j healthJob) (float64, bool) { return float64(j.Runs), true })
	perJob("immich_vault_daemon_job_failures_total", "Runs of the job that ended with an exit code other than 0 and 3.", "counter", func(j healthJob) (float64, bool) { return float64(j.Failures), true })
	perJob("immich_vault_daemon_job_refused_total", "Times the job was due while another job ran (it was not run).", "counter", func(j healthJob) (float64, bool) { return float64(j.Refused), true })
	perJob("immich_vault_daemon_job_next_run_time_seconds", "When the job is due next (Unix time).", "gauge", func(j healthJob) (float64, bool) { return float64(j.Next.Unix()), true })
	ended := func(j healthJob) bool { return j.Last != nil && j.Last.Status != "running" }
	perJob("immich_vault_daemon_job_last_exit_code", "Exit code of the job's last run.", "gauge", func(j healthJob) (float64, bool) {
		if !ended(j) {
			return 0, false
		}
		return float64(j.Last.ExitCode), true
	})
	perJob("immich_vault_daemon_job_last_end_time_seconds", "When the job's last run ended (Unix time).", "gauge", func(j healthJob) (float64, bool) {
		if !ended(j) {
			return 0, false
		}
		return float64(j.Last.End.Unix()), true
	})
	perJob("immich_vault_daemon_job_last_duration_seconds", "How long the job's last run took.", "gauge", func(j healthJob) (float64, bool) {
		if !ended(j) {
			return 0, false
		}
		return j.Last.Seconds, true
	})
	d.mu.Lock()
	okTimes := map[string]time.Time{}
	for _, j := range d.jobs {
		okTimes[j.Name] = j.lastOK
	}
	d.mu.Unlock()
	perJob("immich_vault_daemon_job_last_success_time_seconds", "When the job last ended with exit 0 or 3 (Unix time).", "gauge", func(j healthJob) (float64, bool) {
		t := okTimes[j.Name]
		return float64(t.Unix()), !t.IsZero()
	})
	if f := d.cfg.MetricsFile; f != "" {
		if m, err := os.ReadFile(f); err == nil {
			b.WriteString("# the last run's metrics (metrics_file " + f + ")\n")
			b.Write(m)
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	io.WriteString(w, b.String())
}

func promLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// daemonHealth asks the daemon of the configuration file for /healthz.
func daemonHealth(ctx context.Context) error {
	cfg := gopts.cfg
	if cfg == nil || cfg.Daemon == nil {
		return errors.New("daemon health needs the daemon's configuration file (--config FILE or IMMICH_VAULT_CONFIG) to find its address")
	}
	addr := cfg.Daemon.ListenAddr()
	if addr == "" {
		return errors.New("daemon.listen is off: the daemon serves no health endpoint")
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("daemon health: %w\nIs `immich-vault daemon` running with this configuration file?", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if !gopts.quiet {
		gopts.stdout.Write(body)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("daemon health: %s answered %s", url, resp.Status)
	}
	return nil
}
