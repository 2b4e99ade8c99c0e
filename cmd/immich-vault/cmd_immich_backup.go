package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/ops"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
)

type immichBackupOptions struct {
	immichInstall
	quiesce       string
	immichURL     string
	skipGenerated bool
	skipDumps     bool
	globals       bool
	extraPaths    []string
	extraCommands []string
	tags          []string
	host          string
	waitQuiet     time.Duration
	waitQuietMax  time.Duration
	requireMount  string
	requireUUID   string
	noSpaceCheck  bool
	metricsFile   string
	logFile       string
	stateDir      string
	maintTimeout  time.Duration
}

// immichBackupJSON is the --json summary of `immich backup`.
type immichBackupJSON struct {
	SnapshotID      string         `json:"snapshot_id"`
	Partial         bool           `json:"partial"`
	Errors          int64          `json:"errors"`
	FilesNew        int64          `json:"files_new"`
	FilesChanged    int64          `json:"files_changed"`
	FilesUnmodified int64          `json:"files_unmodified"`
	BytesProcessed  int64          `json:"bytes_processed"`
	DataAdded       int64          `json:"data_added"`
	DataAddedPacked int64          `json:"data_added_packed"`
	DurationSeconds float64        `json:"duration_seconds"`
	Immich          *immich.Record `json:"immich"`
}

func newImmichBackupCmd() *cobra.Command {
	var o immichBackupOptions
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up Immich: database dump first, then files, in one snapshot tagged immich",
		Long: `Back up an Immich install into one snapshot tagged "immich":
  1. optionally quiesce Immich (--quiesce stop|maintenance; always undone,
     also on failure or Ctrl-C),
  2. dump the database with pg_dump --clean --if-exists (docker exec -i, never
     a TTY, or a direct connection) straight into the repository; a failing
     dump fails the backup and writes no snapshot,
  3. store UPLOAD_LOCATION (all folders and .immich markers), external
     libraries from the compose volumes, .env and the compose files.
The snapshot records the Immich and PostgreSQL versions, asset/user/album
counts, components, durations and sizes (see "immich snapshots" and
"snapshots --json").

Exit codes: 0 success, 1 failure (no snapshot written), 3 some files could
not be read (snapshot marked partial), 10 repository missing, 12 wrong password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImmichBackup(cmd, &o)
		},
	}
	f := cmd.Flags()
	o.flags(f)
	f.StringVar(&o.quiesce, "quiesce", "none", "pause Immich while copying: maintenance (Immich v2.3+), stop (docker stop the server) or none")
	f.StringVar(&o.immichURL, "immich-url", "", "Immich `URL` (default: the published port of the compose file, e.g. http://127.0.0.1:2283); with env IMMICH_API_KEY maintenance mode goes through the API, otherwise through immich-admin in the server container")
	f.StringVar(&o.stateDir, "state-dir", "", "`directory` of the quiesce record (default IMMICH_VAULT_STATE_DIR, $XDG_STATE_HOME/immich-vault or ~/.local/state/immich-vault; see immich resume)")
	f.DurationVar(&o.maintTimeout, "quiesce-timeout", 3*time.Minute, "how long to wait for Immich to enter or leave maintenance mode, or to answer after docker start")
	f.BoolVar(&o.skipGenerated, "skip-generated", false, "leave out thumbs/ and encoded-video/ (regenerable), keeping motion-photo originals stored there and the .immich markers")
	f.BoolVar(&o.skipDumps, "skip-immich-dumps", false, "leave out Immich's own nightly dumps (UPLOAD_LOCATION/backups/*.sql.gz): this snapshot's database dump supersedes them")
	f.BoolVar(&o.globals, "globals", false, "also store pg_dumpall --globals-only (roles)")
	f.StringArrayVar(&o.extraPaths, "extra-path", nil, "also back up `path` (repeatable)")
	f.StringArrayVar(&o.extraCommands, "extra-command", nil, "also store the output of `command` run with sh -c, e.g. \"helm get values immich\" (repeatable; a failure fails the backup)")
	f.StringSliceVar(&o.tags, "tag", nil, "add `tag` besides immich (repeatable)")
	f.StringVar(&o.host, "host", "", "record `name` as host (default: hostname)")
	f.DurationVar(&o.waitQuiet, "wait-quiet", 0, "first wait until no file under UPLOAD_LOCATION changed for `duration` (e.g. 20m: lets phones finish uploading)")
	f.DurationVar(&o.waitQuietMax, "wait-quiet-max", 2*time.Hour, "upper bound of --wait-quiet; the backup then runs anyway, with a warning")
	f.StringVar(&o.requireMount, "require-mount", "", "refuse to run unless the local repository is on the file system mounted at `path`")
	f.StringVar(&o.requireUUID, "require-uuid", "", "refuse to run unless the local repository is on the file system with `uuid` (see lsblk -f)")
	f.BoolVar(&o.noSpaceCheck, "no-space-check", false, "skip the free-space preflight of a local repository")
	f.StringVar(&o.metricsFile, "metrics-file", "", "write Prometheus textfile metrics to `file` (atomically; node_exporter textfile collector)")
	f.StringVar(&o.logFile, "log-file", "", "append one line per run to `file`")
	return cmd
}

// localRepoPath returns the repository directory when it is local.
func localRepoPath() (string, bool) {
	for prefix := range backendOpeners {
		if strings.HasPrefix(gopts.repo, prefix) {
			return "", false
		}
	}
	if strings.HasPrefix(gopts.repo, "s3:") || gopts.repo == "" {
		return "", false
	}
	return strings.TrimPrefix(gopts.repo, "local:"), true
}

func runImmichBackup(cmd *cobra.Command, o *immichBackupOptions) (err error) {
	ctx := cmd.Context()
	start := time.Now()
	var (
		sn  *repo.Snapshot
		rec *immich.Record
	)
	defer func() {
		code := exitCodeOf(cmd.Context(), err) // the process's exit code, not a blanket 1
		m := ops.Metrics{Start: start, Duration: time.Since(start), ExitCode: code, Success: code == exitOK || code == exitPartial}
		fields := logFields("immich-backup", code, err, m.Duration, sn)
		if sn != nil {
			s := sn.Summary
			m.BytesAdded, m.Files, m.SnapshotID = s.DataAdded, s.FilesNew+s.FilesChanged+s.FilesUnmodified, sn.ID().String()
		}
		if rec != nil {
			m.DumpBytes, m.Assets = rec.DumpBytes, rec.Counts.Assets
		}
		if immichBackupDone != nil {
			immichBackupDone(m) // run's metrics
		}
		if o.metricsFile != "" {
			if merr := ops.WriteMetrics(o.metricsFile, m); merr != nil {
				gopts.warnf("%v", merr)
			}
		}
		if o.logFile != "" {
			if lerr := ops.AppendLog(o.logFile, fields); lerr != nil {
				gopts.warnf("%v", lerr)
			}
		}
	}()

	mode, err := immich.ParseQuiesce(o.quiesce)
	if err != nil {
		return err
	}
	cfg, db, err := o.resolve()
	if err != nil {
		return err
	}
	if cfg.UploadLocation == "" {
		return errors.New("UPLOAD_LOCATION is unknown: give --immich-dir (with UPLOAD_LOCATION in .env) or --upload-location")
	}
	if err := checkRequiredMount(o.requireMount, o.requireUUID); err != nil {
		return err
	}
	// Repository and password first: a wrong password or a missing disk
	// fails at once, not after --wait-quiet's bound.
	r, err := openRepo(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	var waitedFor time.Duration
	if o.waitQuiet > 0 {
		gopts.printf("waiting until nothing under %s changed for %s (at most %s)\n", cfg.UploadLocation, o.waitQuiet, o.waitQuietMax)
		quiet, waited, err := ops.WaitQuiet(ctx, []string{cfg.UploadLocation}, o.waitQuiet, o.waitQuietMax, 0)
		if err != nil {
			return err
		}
		waitedFor = waited
		if !quiet {
			gopts.warnf("files under %s still changed after waiting %s; backing up anyway (database first, so the snapshot is consistent except for the newest uploads)", cfg.UploadLocation, waited.Round(time.Second))
		}
	}
	// Shared write lock before the parent is chosen: prune beside this
	// backup cannot delete what it relies on (docs/FORMAT.md §10).
	lk, err := r.LockForWrite(ctx, "immich backup")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	ctx = lk.Context()
	host := o.host
	if host == "" {
		host, _ = os.Hostname()
	}
	var parent *repo.Snapshot
	if p, err := archiver.FindParent(ctx, r, archiver.ParentQuery{Host: host, Tags: []string{immich.Tag}}); err == nil {
		parent = p
	}
	if dir, ok := localRepoPath(); ok && !o.noSpaceCheck {
		if err := spacePreflight(cmd, dir, cfg, db, parent); err != nil {
			return err
		}
	}
	url := o.immichURL
	if url == "" {
		url = cfg.ServerURL
	}
	quiescer := &immich.Quiescer{Mode: mode, Container: cfg.ServerContainer, URL: url, APIKey: os.Getenv("IMMICH_API_KEY"),
		StartTimeout: o.maintTimeout, ResumeTimeout: o.maintTimeout, Log: quiesceLog}
	// A quiesce left by a killed run is undone first (its record is in
	// the state directory); then this run records its own before it
	// quiesces, and a watchdog undoes it should this process die.
	stateDir := o.stateDir
	if stateDir == "" {
		if stateDir, err = immich.StateDir(); err != nil {
			return err
		}
	}
	if _, err := recoverQuiesces(ctx, stateDir, false); err != nil {
		return fmt.Errorf("%w\nNothing was backed up: Immich was left quiesced by an earlier run and could not be brought back.", err)
	}
	if mode != immich.QuiesceNone {
		key := immich.JournalKey(quiescer.Container, quiescer.URL)
		j, err := immich.OpenJournal(stateDir, key)
		if err != nil {
			if errors.Is(err, immich.ErrQuiesceBusy) {
				return fmt.Errorf("%w\nNothing was changed: wait for the other backup to finish.", err)
			}
			return err
		}
		quiescer.Journal = j
		wd, err := startWatchdog(stateDir, key)
		if err != nil {
			j.Close()
			return err
		}
		// Runs after immich.Backup's own undo: the lock is released first,
		// then the watchdog is told this process handled it.
		defer func() {
			j.Close()
			wd.done()
		}()
	}
	var warnings atomic.Int64
	prog := &repo.Progress{}
	pp := newProgress("backup", prog, func() (int64, int64, bool) { return 0, 0, false })
	sn, rec, err = immich.Backup(ctx, r, immich.BackupOptions{
		Config: cfg, DB: db, Quiesce: quiescer, SkipGenerated: o.skipGenerated, SkipImmichDumps: o.skipDumps, Globals: o.globals,
		ExtraPaths: o.extraPaths, ExtraCommands: o.extraCommands, Tags: o.tags, Host: host, Parent: parent,
		Progress: prog, ProgramVersion: "immich-vault " + version,
		Warn: func(p string, err error) { warnings.Add(1); gopts.warnf("%s: %v", p, err) },
		Log: func(format string, args ...any) {
			if gopts.verbose > 0 {
				gopts.printf(format+"\n", args...)
			}
		},
		WaitSeconds:  waitedFor.Seconds(),
		AfterQuiesce: faultAfterQuiesce(),
	})
	pp.done()
	if err != nil {
		if errors.Is(err, immich.ErrStillQuiesced) {
			fmt.Fprintf(gopts.stderr, "IMMICH IS NOT RUNNING NORMALLY: %v\n", err)
		}
		return fmt.Errorf("immich backup failed, no snapshot was written: %w", err)
	}
	s := sn.Summary
	if gopts.json {
		if err := gopts.printJSON(immichBackupJSON{
			SnapshotID: sn.ID().String(), Partial: sn.Partial, Errors: s.Errors, FilesNew: s.FilesNew, FilesChanged: s.FilesChanged,
			FilesUnmodified: s.FilesUnmodified, BytesProcessed: s.BytesProcessed, DataAdded: s.DataAdded,
			DataAddedPacked: s.DataAddedPacked, DurationSeconds: time.Since(start).Seconds(), Immich: rec,
		}); err != nil {
			return err
		}
	} else {
		gopts.printf("Immich %s, PostgreSQL %s (%s schema): %d assets, %d users, %d albums, %d people\n",
			orUnknown(rec.ImmichVersion), rec.PostgresVersion, rec.Schema, rec.Counts.Assets, rec.Counts.Users, rec.Counts.Albums, rec.Counts.Persons)
		gopts.printf("Database dump: %s in %.1fs; components: %s\n", humanize.IBytes(uint64(rec.DumpBytes)), rec.DumpSeconds, strings.Join(rec.Components, ", "))
		gopts.printf("Files: %d new, %d changed, %d unmodified\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified)
		gopts.printf("Added to the repository: %s (%s stored)\n", humanize.IBytes(uint64(s.DataAdded)), humanize.IBytes(uint64(s.DataAddedPacked)))
		gopts.printf("snapshot %s saved (tag immich) in %s\n", sn.ID().Short(), time.Since(start).Round(time.Millisecond))
	}
	if sn.Partial {
		fmt.Fprintf(gopts.stderr, "Warning: %d file(s) could not be read; snapshot %s is marked partial. Fix the permissions and run the backup again.\n", s.Errors, sn.ID().Short())
		return &exitError{code: exitPartial}
	}
	return nil
}

// faultAfterQuiesce returns the fault IMMICH_VAULT_TEST_FAULT injects once
// Immich is quiesced (tests only): "panic" panics in a new goroutine, which
// ends the process without running deferred functions.
func faultAfterQuiesce() func() {
	switch os.Getenv("IMMICH_VAULT_TEST_FAULT") {
	case "panic":
		return func() {
			done := make(chan struct{})
			go func() {
				close(done)
				panic("IMMICH_VAULT_TEST_FAULT=panic: injected panic in a goroutine after quiescing Immich")
			}()
			<-done
			time.Sleep(time.Second) // the panic ends the process meanwhile
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(version unknown)"
	}
	return s
}

// spacePreflight fails early when the repository's file system cannot hold
// the database dump plus every file changed since the parent snapshot
// (an upper bound: deduplication and compression only shrink it).
func spacePreflight(cmd *cobra.Command, dir string, cfg immich.Config, db *immich.DB, parent *repo.Snapshot) error {
	ctx := cmd.Context()
	free, err := ops.FreeSpace(dir)
	if err != nil || !ops.SizeKnown(dir) {
		return nil // reported by the backup itself if the repository is missing; ramfs reports no size
	}
	var since time.Time
	if parent != nil {
		since = ops.SpaceSince(parent.Time)
	}
	roots := []string{cfg.UploadLocation}
	for _, m := range cfg.External {
		roots = append(roots, m.Host)
	}
	var dbSize int64
	if v, err := db.Value(ctx, "", "SELECT pg_database_size(current_database())"); err == nil {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			dbSize = n
		}
	}
	// When even everything the library's file systems hold fits, the walk
	// that counts the changed files is not needed.
	if bound, ok := ops.SourceBound(roots); ok && bound+uint64(dbSize)+64<<20 <= free {
		return nil
	}
	need, err := ops.ChangedBytes(ctx, roots, since)
	if err != nil {
		return err
	}
	need += dbSize
	need += 64 << 20 // index, snapshot and pack overhead
	if uint64(need) > free {
		// backend.ErrNoSpace: the one "storage full" sentinel, also what a
		// backend returns when the disk fills during the backup.
		return fmt.Errorf("%w on %s: %s free, this backup may need up to %s (database plus files added, changed or moved since the last backup)\nFree space on the backup disk or prune old snapshots; --no-space-check skips this check",
			backend.ErrNoSpace, dir, humanize.IBytes(free), humanize.IBytes(uint64(need)))
	}
	return nil
}
