package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/ops"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// plainOps is what the plain commands (backup, forget, prune, check, copy)
// take from ops/: --metrics-file and --log-file, and for backup the
// preflights of immich backup (--require-mount, --require-uuid, the
// free-space check). withPlainOps adds them to a command.
type plainOps struct {
	metricsFile  string
	logFile      string
	preflights   bool // backup: --require-mount, --require-uuid, --no-space-check
	requireMount string
	requireUUID  string
	noSpaceCheck bool
	snapshot     *repo.Snapshot // backup: the snapshot written (done)
	// dryRun: backup --dry-run records no metrics and no log line, so a
	// monitor watching last_success_timestamp is never fooled by one.
	dryRun bool
}

// withPlainOps registers --metrics-file and --log-file on cmd (and with
// preflights, --require-mount, --require-uuid and --no-space-check) and
// wraps its RunE so that every run, failed or not, writes one metrics set
// and one log line with the exit code the process ends with.
func withPlainOps(cmd *cobra.Command, preflights bool) *plainOps {
	p := &plainOps{preflights: preflights}
	f := cmd.Flags()
	f.StringVar(&p.metricsFile, "metrics-file", "", "write Prometheus textfile metrics to `file` (atomically; node_exporter textfile collector; other commands' metrics in it are kept)")
	f.StringVar(&p.logFile, "log-file", "", "append one line per run to `file`")
	if preflights {
		f.StringVar(&p.requireMount, "require-mount", "", "refuse to run unless the local repository is on the file system mounted at `path`")
		f.StringVar(&p.requireUUID, "require-uuid", "", "refuse to run unless the local repository is on the file system with `uuid` (see lsblk -f)")
		f.BoolVar(&p.noSpaceCheck, "no-space-check", false, "skip the free-space preflight of a local repository")
	}
	inner := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) (err error) {
		start := time.Now()
		defer func() { p.record(c, start, err) }()
		if p.preflights {
			if err := checkRequiredMount(p.requireMount, p.requireUUID); err != nil {
				return err
			}
		}
		return inner(c, args)
	}
	return p
}

// done records the snapshot a backup wrote (nil-safe).
func (p *plainOps) done(sn *repo.Snapshot) {
	if p != nil {
		p.snapshot = sn
	}
}

// record writes the metrics file and the log line of one run of c.
func (p *plainOps) record(c *cobra.Command, start time.Time, err error) {
	if p.dryRun || (p.metricsFile == "" && p.logFile == "") {
		return
	}
	name := commandKey(c)
	code := exitCodeOf(c.Context(), err) // the process's exit code, not a blanket 1
	dur := time.Since(start)
	m := ops.CommandMetrics{Command: name, Start: start, Duration: dur, ExitCode: code, Success: code == exitOK || code == exitPartial, Backup: p.preflights}
	if sn := p.snapshot; sn != nil {
		s := sn.Summary
		m.BytesAdded, m.Files = s.DataAdded, s.FilesNew+s.FilesChanged+s.FilesUnmodified
	}
	fields := logFields(name, code, err, dur, p.snapshot)
	if p.metricsFile != "" {
		if merr := ops.WriteCommandMetrics(p.metricsFile, m); merr != nil {
			gopts.warnf("%v", merr)
		}
	}
	if p.logFile != "" {
		if lerr := ops.AppendLog(p.logFile, fields); lerr != nil {
			gopts.warnf("%v", lerr)
		}
	}
}

// logFields is the --log-file line (ops.AppendLog) of a command that ended
// with exit code code and error err after dur, having written snapshot sn
// (nil: none): status ok, partial or failed, and the error on one line
// unless the run was partial.
func logFields(command string, code int, err error, dur time.Duration, sn *repo.Snapshot) map[string]string {
	fields := map[string]string{"command": command, "status": "ok", "exit": strconv.Itoa(code), "duration": dur.Round(time.Millisecond).String()}
	if sn != nil {
		s := sn.Summary
		fields["snapshot"], fields["added"], fields["files"] = sn.ID().Short(), strconv.FormatInt(s.DataAdded, 10), strconv.FormatInt(s.FilesNew+s.FilesChanged+s.FilesUnmodified, 10)
	}
	if code != exitOK {
		fields["status"] = "failed"
		if code == exitPartial {
			fields["status"] = "partial"
		}
	}
	if err != nil && code != exitPartial {
		fields["error"] = strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return fields
}

// checkRequiredMount is --require-mount/--require-uuid of backup and
// immich backup: exit 10, nothing written, when the local repository is not
// on the required file system (e.g. the USB disk is not mounted).
func checkRequiredMount(mount, uuid string) error {
	if mount == "" && uuid == "" {
		return nil
	}
	dir, ok := localRepoPath()
	if !ok {
		return errors.New("--require-mount/--require-uuid apply to a local repository only")
	}
	if mount != "" {
		if err := ops.RequireMount(dir, mount); err != nil {
			return &exitError{code: exitNoRepository, err: fmt.Errorf("%w\nNothing was written. Mount the backup disk at %s (or fix --require-mount) and run again.", err, mount)}
		}
	}
	if uuid != "" {
		if err := ops.RequireUUID(dir, uuid, ""); err != nil {
			return &exitError{code: exitNoRepository, err: fmt.Errorf("%w\nNothing was written. Attach and mount the backup disk (see lsblk -f), then run again.", err)}
		}
	}
	return nil
}

// spaceGate is backup's free-space check (nil-safe): a local repository's
// file system must hold every file under paths changed since the parent
// snapshot (an upper bound: deduplication and compression only shrink
// it). It returns no check when there is nothing to check: not a local
// repository, --no-space-check, or everything the source file systems hold
// fits. Otherwise the check is asked by the backup itself
// (archiver.BackupOptions.SpaceGate) once its walk ahead has counted the
// changed files, before any pack, index or snapshot is written: the source
// is walked once, not once for the check and once for the backup. A file
// system without room even for the margin (SpaceNeed(0)) is refused at
// once, before the backup takes its lock. Streams (--stdin) have no size
// known in advance and are not counted.
func (p *plainOps) spaceGate(paths []string) (func(changed int64) error, error) {
	if p == nil || !p.preflights || p.noSpaceCheck || len(paths) == 0 {
		return nil, nil
	}
	dir, ok := localRepoPath()
	if !ok {
		return nil, nil
	}
	free, err := ops.FreeSpace(dir)
	if err != nil || !ops.SizeKnown(dir) {
		return nil, nil // reported by the backup itself if the repository is missing; ramfs reports no size
	}
	if need := ops.SpaceNeed(0); need > free {
		return nil, fmt.Errorf("%w on %s: %s free, this backup needs at least %s\nNothing was written. Free space on the backup disk or prune old snapshots; --no-space-check skips this check",
			backend.ErrNoSpace, dir, humanize.IBytes(free), humanize.IBytes(need))
	}
	if walk, _ := ops.CountsChanged(paths, free); !walk {
		return nil, nil
	}
	return func(changed int64) error {
		free, err := ops.FreeSpace(dir) // now, after the walk
		if err != nil {
			return nil
		}
		need := ops.SpaceNeed(uint64(changed)) // at most the changed bytes, less after deduplication and compression
		if need > free {
			return fmt.Errorf("%w on %s: %s free, this backup may need up to %s (files added, changed or moved since the last backup)\nNo data was written (no pack, index or snapshot). Free space on the backup disk or prune old snapshots; --no-space-check skips this check",
				backend.ErrNoSpace, dir, humanize.IBytes(free), humanize.IBytes(need))
		}
		return nil
	}, nil
}
