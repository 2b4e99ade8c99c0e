package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/internal/config"
	"github.com/immich-vault/immich-vault/internal/proc"
	"github.com/immich-vault/immich-vault/ops"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newRunCmd) }

// immichBackupDone, when set (by run), receives the metrics of each
// `immich backup` that ends in this process.
var immichBackupDone func(ops.Metrics)

// stepResult is one step of a run.
type stepResult struct {
	Step     string        `json:"step"`
	Status   string        `json:"status"` // ok, partial, failed, skipped
	ExitCode int           `json:"exit_code"`
	Seconds  float64       `json:"duration_seconds"`
	Detail   string        `json:"detail,omitempty"`
	Error    string        `json:"error,omitempty"`
	err      error         `json:"-"`
	dur      time.Duration `json:"-"`
	end      time.Time     `json:"-"`
}

type runReport struct {
	Status   string       `json:"status"` // ok, partial, failed
	ExitCode int          `json:"exit_code"`
	Seconds  float64      `json:"duration_seconds"`
	Host     string       `json:"host"`
	Steps    []stepResult `json:"steps"`
}

func newRunCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "The whole nightly job from the configuration file: backup, forget, prune, check, copy",
		Long: `Run every step the configuration file asks for, in order, each reported and
timed:
  hooks.before → immich backup (or backup of backup.paths; waits for
  backup.wait_quiet first) → forget by retention → prune when due
  (prune.every) → check when due (check.every; read_data_rotation m reads a
  different 1/m of the packs each day) → copy to every copy: target →
  hooks.after (or hooks.on_failure) → metrics file, log file, notifications.

A failing step stops the run (later steps are reported as skipped) and its
exit code is the run's: 1 failure, 10 repository missing or not mounted, 11
locked, 12 wrong password, 130 interrupted. A partial backup (3) does not
stop it and the run then exits 3. The metrics file and the log are written
and the monitors pinged whatever happened; Immich is never left quiesced
(quiescing is undone inside the backup step, before any hook runs).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if gopts.cfg == nil {
				return errors.New("run needs a configuration file: give --config FILE or set IMMICH_VAULT_CONFIG (`immich-vault config init` writes one)")
			}
			return runAll(cmd.Context(), gopts.cfg, dryRun)
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "print the steps this run would take; run nothing")
	return cmd
}

// runner runs the steps of one run.
type runner struct {
	ctx    context.Context
	cfg    *config.File
	start  time.Time
	steps  []stepResult
	failed *stepResult // the first failed step
	backup *ops.Metrics
	state  runState
	json   bool
}

// runState is what run remembers between runs (state_dir/run-state.json):
// when prune and check last succeeded, per repository.
type runState map[string]map[string]time.Time

func runStatePath(cfg *config.File) (string, error) {
	dir := ""
	if cfg.Immich != nil {
		dir = cfg.Immich.StateDir
	}
	if dir == "" {
		var err error
		if dir, err = immich.StateDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "run-state.json"), nil
}

func loadRunState(cfg *config.File) runState {
	st := runState{}
	if p, err := runStatePath(cfg); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			if err := json.Unmarshal(b, &st); err != nil {
				gopts.warnf("%s: %v (prune and check are treated as due)", p, err)
			}
		}
	}
	return st
}

func (rn *runner) last(step string) time.Time { return rn.state[gopts.repo][step] }

func (rn *runner) remember(step string) {
	if rn.state[gopts.repo] == nil {
		rn.state[gopts.repo] = map[string]time.Time{}
	}
	rn.state[gopts.repo][step] = time.Now()
	p, err := runStatePath(rn.cfg)
	if err != nil {
		gopts.warnf("run state: %v", err)
		return
	}
	b, _ := json.MarshalIndent(rn.state, "", "  ")
	err = os.MkdirAll(filepath.Dir(p), 0o700)
	if err == nil {
		err = os.WriteFile(p+".tmp", b, 0o600)
	}
	if err == nil {
		err = os.Rename(p+".tmp", p)
	}
	if err != nil {
		gopts.warnf("run state %s: %v (the next run treats %s as due)", p, err, step)
	}
}

// plan lists the steps of a run with whether each is due.
type plannedStep struct {
	name string
	due  bool
	why  string // why not due
	run  func() (detail string, err error)
}

func runAll(ctx context.Context, cfg *config.File, dryRun bool) error {
	rn := &runner{ctx: ctx, cfg: cfg, start: time.Now(), state: loadRunState(cfg), json: gopts.json}
	host, _ := os.Hostname()
	steps := rn.plan()
	if dryRun {
		for _, s := range steps {
			if s.due {
				fmt.Fprintf(gopts.stdout, "would run %s\n", s.name)
			} else {
				fmt.Fprintf(gopts.stdout, "would skip %s (%s)\n", s.name, s.why)
			}
		}
		return nil
	}
	// Step output is the commands' own (silenced by --quiet); with --json
	// only run's report is printed.
	savedQuiet, savedJSON := gopts.quiet, gopts.json
	if rn.json {
		gopts.quiet, gopts.json = true, false
	}
	defer func() { gopts.quiet, gopts.json = savedQuiet, savedJSON }()

	nctx := context.WithoutCancel(ctx) // notifications and failure hooks also after Ctrl-C
	rn.notify(nctx, "start", nil)
	if len(cfg.Hooks.Before) > 0 {
		t0 := time.Now()
		err := rn.hooks("before", cfg.Hooks.Before, nil)
		rn.finishStep(stepResult{Step: "hook:before", dur: time.Since(t0)}, err, "")
	}
	for _, s := range steps {
		if rn.failed != nil {
			rn.steps = append(rn.steps, stepResult{Step: s.name, Status: "skipped", Detail: "an earlier step failed", end: time.Now()})
			continue
		}
		if !s.due {
			rn.steps = append(rn.steps, stepResult{Step: s.name, Status: "skipped", Detail: s.why, end: time.Now()})
			gopts.printf("run: %s skipped (%s)\n", s.name, s.why)
			continue
		}
		t0 := time.Now()
		gopts.printf("run: %s\n", s.name)
		detail, err := s.run()
		rn.finishStep(stepResult{Step: s.name, dur: time.Since(t0)}, err, detail)
	}
	if rn.failed == nil {
		if len(cfg.Hooks.After) > 0 {
			t0 := time.Now()
			err := rn.hooks("after", cfg.Hooks.After, nil)
			rn.finishStep(stepResult{Step: "hook:after", dur: time.Since(t0)}, err, "")
		}
	}
	rep := rn.report(host)
	if rn.failed != nil {
		if err := rn.hooks("on_failure", cfg.Hooks.OnFailure, rn.failed); err != nil {
			gopts.warnf("on_failure hook: %v", err)
		}
	}
	rn.writeMetrics(rep)
	rn.writeLog(rep)
	if rn.failed != nil {
		rn.notify(nctx, "failure", &rep)
	} else {
		rn.notify(nctx, "success", &rep)
	}
	if rn.json {
		gopts.quiet, gopts.json = savedQuiet, savedJSON
		if err := gopts.printJSON(rep); err != nil {
			return err
		}
	} else {
		gopts.printf("run: %s in %s (exit %d)\n", rep.Status, time.Since(rn.start).Round(time.Millisecond), rep.ExitCode)
	}
	if rn.failed != nil {
		return &exitError{code: rn.failed.ExitCode, err: fmt.Errorf("run failed at step %s (exit %d): %w", rn.failed.Step, rn.failed.ExitCode, rn.failed.err)}
	}
	if rep.ExitCode != exitOK {
		return &exitError{code: rep.ExitCode}
	}
	return nil
}

// finishStep records a step's end; a failure stops the run.
func (rn *runner) finishStep(s stepResult, err error, detail string) {
	s.end = time.Now()
	s.Seconds = s.dur.Seconds()
	s.Detail = detail
	s.ExitCode = exitCodeOf(rn.ctx, err)
	s.err = err
	switch s.ExitCode {
	case exitOK:
		s.Status = "ok"
	case exitPartial:
		s.Status = "partial"
	default:
		s.Status = "failed"
		if err != nil {
			s.Error = strings.ReplaceAll(err.Error(), "\n", " ")
		}
	}
	rn.steps = append(rn.steps, s)
	if s.Status == "failed" {
		rn.failed = &rn.steps[len(rn.steps)-1]
		fmt.Fprintf(gopts.stderr, "run: step %s FAILED (exit %d) after %s: %v\n", s.Step, s.ExitCode, s.dur.Round(time.Millisecond), err)
		return
	}
	msg := fmt.Sprintf("run: %s %s in %s", s.Step, s.Status, s.dur.Round(time.Millisecond))
	if detail != "" {
		msg += " (" + detail + ")"
	}
	gopts.printf("%s\n", msg)
}

func (rn *runner) report(host string) runReport {
	rep := runReport{Status: "ok", Host: host, Steps: rn.steps, Seconds: time.Since(rn.start).Seconds()}
	for _, s := range rn.steps {
		if s.Status == "partial" {
			rep.Status, rep.ExitCode = "partial", exitPartial
		}
	}
	if rn.failed != nil {
		rep.Status, rep.ExitCode = "failed", rn.failed.ExitCode
	}
	return rep
}

// plan returns the steps the configuration asks for, in order.
func (rn *runner) plan() []plannedStep {
	cfg := rn.cfg
	var steps []plannedStep
	switch {
	case cfg.Immich != nil:
		steps = append(steps, plannedStep{name: "backup", due: true, run: rn.immichBackup})
	case len(cfg.Backup.Paths) > 0:
		steps = append(steps, plannedStep{name: "backup", due: true, run: rn.plainBackup})
	default:
		steps = append(steps, plannedStep{name: "backup", run: nil, why: "nothing to back up: no immich: section and no backup.paths"})
	}
	if cfg.Retention.Empty() {
		steps = append(steps, plannedStep{name: "forget", why: "no retention: policy in the configuration"})
	} else {
		steps = append(steps, plannedStep{name: "forget", due: true, run: func() (string, error) { return "", rn.command("forget", nil, nil) }})
	}
	pe, _ := config.ParseEvery(cfg.Prune.Every)
	if cfg.Prune.Every == "" {
		pe = config.Every{Interval: 7 * 24 * time.Hour}
	}
	steps = append(steps, rn.scheduled("prune", pe, func() (string, error) { return "", rn.command("prune", nil, nil) }))
	ce, _ := config.ParseEvery(cfg.Check.Every)
	steps = append(steps, rn.scheduled("check", ce, rn.check))
	for _, t := range cfg.Copy {
		steps = append(steps, plannedStep{name: "copy:" + t.Label(), due: true, run: func() (string, error) { return rn.copyTo(t) }})
	}
	if steps[0].run == nil {
		// Without a backup step the run cannot succeed: fail it clearly.
		steps[0].due, steps[0].run = true, func() (string, error) { return "", errors.New(steps[0].why) }
	}
	return steps
}

func (rn *runner) scheduled(name string, e config.Every, fn func() (string, error)) plannedStep {
	last := rn.last(name)
	if !e.Due(last, time.Now()) {
		why := "never (" + name + ".every: never)"
		if !e.Never {
			why = fmt.Sprintf("last done %s, due every %s", last.Local().Format("2006-01-02 15:04"), e.Interval)
		}
		return plannedStep{name: name, why: why}
	}
	return plannedStep{name: name, due: true, run: func() (string, error) {
		d, err := fn()
		if err == nil {
			rn.remember(name)
		}
		return d, err
	}}
}

// command runs the command at key with the configuration's settings (and
// set, which wins over them) through the same code as the command line.
func (rn *runner) command(key string, args []string, set map[string]string) error {
	c := commandFor(key)
	if c == nil {
		return fmt.Errorf("internal: no command %q", key)
	}
	skip := map[string]bool{"metrics-file": true, "log-file": true} // run writes its own
	for k := range set {
		skip[k] = true
	}
	if err := applySettings(c, rn.cfg, key, skip); err != nil {
		return err
	}
	for k, v := range set {
		if err := c.Flags().Set(k, v); err != nil {
			return fmt.Errorf("%s --%s %s: %w", key, k, v, err)
		}
	}
	c.SetContext(rn.ctx)
	return c.RunE(c, args)
}

func (rn *runner) immichBackup() (string, error) {
	var m *ops.Metrics
	immichBackupDone = func(got ops.Metrics) { m = &got }
	defer func() { immichBackupDone = nil }()
	err := rn.command("immich backup", nil, nil)
	if m != nil {
		rn.backup = m
		if m.SnapshotID != "" {
			return fmt.Sprintf("snapshot %s, %s added, %d files", m.SnapshotID[:8], formatBytes(m.BytesAdded), m.Files), err
		}
	}
	return "", err
}

func (rn *runner) plainBackup() (string, error) {
	return "", rn.command("backup", rn.cfg.Backup.Paths, nil)
}

// check reads the configured share of the data; with read_data_rotation m
// it reads group (days since 1970 mod m)+1 of m, so m daily runs read all.
func (rn *runner) check() (string, error) {
	var set map[string]string
	detail := ""
	if m := rn.cfg.Check.ReadDataRotation; m > 0 {
		_, off := time.Now().Zone()
		day := (time.Now().Unix() + int64(off)) / 86400
		n := day%int64(m) + 1
		set = map[string]string{"read-data-subset": fmt.Sprintf("%d/%d", n, m)}
		detail = fmt.Sprintf("read data subset %d/%d", n, m)
	} else if s := rn.cfg.Check.ReadDataSubset; s != "" {
		detail = "read data subset " + s
	} else if rd := rn.cfg.Check.ReadData; rd != nil && *rd {
		detail = "read all data"
	}
	return detail, rn.command("check", nil, set)
}

func (rn *runner) copyTo(t config.CopyTarget) (string, error) {
	src, err := openRepo(rn.ctx)
	if err != nil {
		return "", err
	}
	dst, err := openTarget(rn.ctx, t)
	if err != nil {
		src.Close()
		if exitCodeOf(rn.ctx, err) == exitNoRepository {
			err = &exitError{code: exitNoRepository, err: fmt.Errorf("copy target %s: %w\nCreate it once with `immich-vault -r %s init --copy-chunker-params-from %s` (it then shares the source's key material and copies fast)", t.Label(), err, t.Repository, gopts.repo)}
		}
		return "", err
	}
	err = copySnapshots(rn.ctx, src, dst, nil, repo.SnapshotFilter{})
	// Closed before the retention step: forget and prune open the target
	// (and its cache) themselves.
	src.Close()
	dst.Close()
	if err != nil {
		return "", err
	}
	return rn.offsiteRetention(t)
}

// offsiteRetention applies the configuration's retention to copy target t
// (forget after every copy, prune when prune.every says so, remembered per
// target), so an offsite repository does not keep every snapshot ever
// copied. Both run through the forget and prune commands against the
// target, as `immich-vault -r TARGET forget|prune` would.
func (rn *runner) offsiteRetention(t config.CopyTarget) (string, error) {
	if rn.cfg.Retention.Empty() {
		return "", nil
	}
	saved := *gopts
	defer func() { *gopts = saved }()
	gopts.repo = t.Repository
	if t.PasswordFile != "" || t.PasswordCommand != "" {
		gopts.passwordFile, gopts.passwordCommand = t.PasswordFile, t.PasswordCommand
	}
	if err := rn.command("forget", nil, nil); err != nil {
		return "", fmt.Errorf("forget on copy target %s: %w", t.Label(), err)
	}
	detail := "forgot by retention"
	pe, _ := config.ParseEvery(rn.cfg.Prune.Every)
	if rn.cfg.Prune.Every == "" {
		pe = config.Every{Interval: 7 * 24 * time.Hour}
	}
	if pe.Due(rn.last("prune"), time.Now()) { // rn.last reads the state of gopts.repo: the target
		if err := rn.command("prune", nil, nil); err != nil {
			return detail, fmt.Errorf("prune on copy target %s: %w", t.Label(), err)
		}
		rn.remember("prune")
		detail += ", pruned"
	}
	return detail, nil
}

// hooks runs cmds (sh -c) one after the other, each bounded by
// hooks.timeout; the first failure is returned.
func (rn *runner) hooks(name string, cmds []string, failed *stepResult) error {
	timeout := 5 * time.Minute
	if t := rn.cfg.Hooks.Timeout; t != "" {
		timeout, _ = time.ParseDuration(t)
	}
	for i, c := range cmds {
		ctx := rn.ctx
		if failed != nil {
			ctx = context.WithoutCancel(ctx)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		x := proc.Command(ctx, "sh", "-c", c)
		x.Env = append(os.Environ(), "IMMICH_VAULT_RUN_HOOK="+name)
		if failed != nil {
			x.Env = append(x.Env, "IMMICH_VAULT_RUN_FAILED_STEP="+failed.Step, "IMMICH_VAULT_RUN_EXIT="+strconv.Itoa(failed.ExitCode),
				"IMMICH_VAULT_RUN_ERROR="+failed.Error)
		}
		x.Stdout, x.Stderr = gopts.stderr, gopts.stderr
		if !gopts.quiet {
			x.Stdout = gopts.stdout
		}
		t0 := time.Now()
		err := x.Run()
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		if err != nil {
			if timedOut {
				return fmt.Errorf("hooks.%s[%d] %q did not finish within %s (hooks.timeout) and was stopped", name, i, c, timeout)
			}
			return fmt.Errorf("hooks.%s[%d] %q failed after %s: %w", name, i, c, time.Since(t0).Round(time.Millisecond), err)
		}
	}
	return nil
}

func (rn *runner) writeMetrics(rep runReport) {
	if rn.cfg.MetricsFile == "" {
		return
	}
	m := ops.RunMetrics{Start: rn.start, Duration: time.Since(rn.start), ExitCode: rep.ExitCode, Success: rep.ExitCode == exitOK || rep.ExitCode == exitPartial}
	for _, s := range rep.Steps {
		m.Steps = append(m.Steps, ops.StepMetrics{Step: s.Step, Status: s.Status, ExitCode: s.ExitCode, End: s.end, Duration: s.dur})
	}
	if rn.cfg.Immich != nil {
		m.Backup = rn.backup
		if m.Backup == nil { // the backup did not run (a hook or the configuration failed first)
			m.Backup = &ops.Metrics{Start: rn.start, Duration: time.Since(rn.start), ExitCode: rep.ExitCode}
		}
	}
	if err := ops.WriteRunMetrics(rn.cfg.MetricsFile, m); err != nil {
		gopts.warnf("%v", err)
	}
}

func (rn *runner) writeLog(rep runReport) {
	if rn.cfg.LogFile == "" {
		return
	}
	for _, s := range rep.Steps {
		f := map[string]string{"command": "run", "step": s.Step, "status": s.Status, "exit": strconv.Itoa(s.ExitCode),
			"duration": s.dur.Round(time.Millisecond).String()}
		if s.Detail != "" {
			f["detail"] = s.Detail
		}
		if s.Error != "" {
			f["error"] = s.Error
		}
		if err := ops.AppendLog(rn.cfg.LogFile, f); err != nil {
			gopts.warnf("%v", err)
			return
		}
	}
	f := map[string]string{"command": "run", "step": "run", "status": rep.Status, "exit": strconv.Itoa(rep.ExitCode),
		"duration": time.Since(rn.start).Round(time.Millisecond).String()}
	if err := ops.AppendLog(rn.cfg.LogFile, f); err != nil {
		gopts.warnf("%v", err)
	}
}
