package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/internal/proc"
	"github.com/immich-vault/immich-vault/ops"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

type backupOptions struct {
	ops              *plainOps
	tags             []string
	host             string
	excludes         []string
	excludeFiles     []string
	excludeCaches    bool
	oneFileSystem    bool
	stdin            bool
	stdinFilename    string
	stdinFromCommand bool
	parent           string
	force            bool
	dryRun           bool
}

// backupSummaryJSON is the --json output of backup.
type backupSummaryJSON struct {
	MessageType     string  `json:"message_type"` // summary (after the status lines)
	SnapshotID      string  `json:"snapshot_id"`
	FilesNew        int64   `json:"files_new"`
	FilesChanged    int64   `json:"files_changed"`
	FilesUnmodified int64   `json:"files_unmodified"`
	Dirs            int64   `json:"dirs"`
	BytesProcessed  int64   `json:"bytes_processed"`
	BytesRead       int64   `json:"bytes_read"`
	DataBlobs       int64   `json:"data_blobs"`
	DataAdded       int64   `json:"data_added"`
	DataAddedPacked int64   `json:"data_added_packed"`
	Errors          int64   `json:"errors"`
	Partial         bool    `json:"partial"`
	DurationSeconds float64 `json:"duration_seconds"`
}

func init() { register(newBackupCmd) }

func newBackupCmd() *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "backup [flags] PATH... | --stdin | --stdin-from-command -- CMD [ARGS...]",
		Short: "Create a new snapshot of files, stdin or a command's output",
		Long: `Create a new snapshot. Files are chunked, deduplicated, compressed when
compressible, and encrypted. Unchanged files (same path, size, mtime, ctime,
inode) and moved files (same device, inode, size and mtime) are not read again.

Unreadable files are reported and skipped: the snapshot is then marked partial
and the exit code is 3.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd, o, args)
		},
	}
	f := cmd.Flags()
	o.ops = withPlainOps(cmd, true) // --metrics-file, --log-file, --require-mount... (ops_plain.go)
	f.StringSliceVar(&o.tags, "tag", nil, "add `tag` to the snapshot (repeatable, comma-separated)")
	f.StringVar(&o.host, "host", "", "record `name` as host (default: hostname)")
	f.StringArrayVarP(&o.excludes, "exclude", "e", nil, "exclude `pattern` (glob; ** spans directories; repeatable)")
	f.StringArrayVar(&o.excludeFiles, "exclude-file", nil, "read exclude patterns from `file` (repeatable)")
	f.BoolVar(&o.excludeCaches, "exclude-caches", false, "skip directories holding a valid CACHEDIR.TAG")
	f.BoolVarP(&o.oneFileSystem, "one-file-system", "x", false, "do not cross file system boundaries")
	f.BoolVar(&o.stdin, "stdin", false, "back up standard input as one file")
	f.StringVar(&o.stdinFilename, "stdin-filename", "stdin", "`name` of the file holding stdin / the command output")
	f.BoolVar(&o.stdinFromCommand, "stdin-from-command", false, "back up the output of the command given after --; fails if it exits non-zero")
	f.StringVar(&o.parent, "parent", "", "use snapshot `id` as parent (default: latest with the same host and paths)")
	f.BoolVar(&o.force, "force", false, "read every file again (ignore the parent and the file cache)")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "read and chunk as a backup would, store nothing: report what would be added")
	return cmd
}

func runBackup(cmd *cobra.Command, o backupOptions, args []string) error {
	ctx := cmd.Context()
	var paths, command []string
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		paths, command = args[:dash], args[dash:]
	} else {
		paths = args
	}
	if o.stdinFromCommand && len(command) == 0 {
		return errors.New("--stdin-from-command needs the command after --, e.g. backup --stdin-from-command -- pg_dump mydb")
	}
	if !o.stdinFromCommand && len(command) > 0 {
		paths = append(paths, command...)
		command = nil
	}
	if (o.stdin || o.stdinFromCommand) && len(paths) > 0 {
		return errors.New("--stdin/--stdin-from-command cannot be combined with paths")
	}
	if !o.stdin && !o.stdinFromCommand && len(paths) == 0 {
		return errors.New("nothing to back up: give at least one path, --stdin or --stdin-from-command")
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			return fmt.Errorf("backup source %s: %w", p, err)
		}
	}
	patterns := append([]string(nil), o.excludes...)
	for _, f := range o.excludeFiles {
		l, err := data.ReadPatternFile(f)
		if err != nil {
			return fmt.Errorf("exclude file: %w", err)
		}
		patterns = append(patterns, l...)
	}
	filter, err := data.NewFilter(patterns)
	if err != nil {
		return err
	}
	r, err := openRepo(ctx)
	if err != nil {
		return err
	}
	defer r.Close()

	var warnings atomic.Int64
	opts := archiver.BackupOptions{
		Paths:          paths,
		Tags:           o.tags,
		Host:           o.host,
		Exclude:        filter,
		ExcludeCaches:  o.excludeCaches,
		OneFileSystem:  o.oneFileSystem,
		Progress:       &repo.Progress{},
		ProgramVersion: "immich-vault " + version,
		Warn: func(p string, err error) {
			warnings.Add(1)
			gopts.warnf("%s: %v", p, err)
		},
	}
	if opts.Host == "" {
		opts.Host, _ = os.Hostname()
	}
	name := "/" + strings.TrimLeft(filepath.ToSlash(o.stdinFilename), "/")
	switch {
	case o.stdin:
		opts.Streams = []archiver.Stream{{Path: name, Reader: os.Stdin}}
	case o.stdinFromCommand:
		st, err := proc.Start(proc.Command(ctx, command[0], command[1:]...), fmt.Sprintf("command %q", strings.Join(command, " ")), gopts.stderr)
		if err != nil {
			return err
		}
		defer st.Kill()
		opts.Streams = []archiver.Stream{{Path: name, Reader: st, Done: func() error {
			if err := st.Wait(); err != nil {
				return fmt.Errorf("%w: no snapshot was written", err)
			}
			return nil
		}}}
	}
	opts.ForceRead = o.force
	opts.DryRun = o.dryRun
	// Tests only: the snapshot is timed by a clock that runs this far
	// ahead of this machine's (another container with the same hostname),
	// which the free-space check of the next backup must survive
	// (ops.SpaceSince).
	if d, err := time.ParseDuration(os.Getenv("IMMICH_VAULT_TEST_CLOCK_AHEAD")); err == nil {
		opts.Time = time.Now().Add(d)
	}
	if o.ops != nil {
		o.ops.dryRun = o.dryRun
	}
	opts.Parent, err = findParent(cmd, r, o, opts, paths)
	if err != nil {
		return err
	}
	// The free-space check is asked by the backup once its walk ahead
	// counted the changed files; its refusal is reported as is (it says
	// that nothing was written and what to do).
	var refusal error
	gate, err := o.ops.spaceGate(paths)
	if err != nil {
		return err
	}
	if gate != nil && !o.dryRun {
		opts.SpaceGate = func(changed int64) error { refusal = gate(changed); return refusal }
		if opts.Parent != nil {
			opts.SpaceSince = ops.SpaceSince(opts.Parent.Time)
		}
	}
	// The totals come from the backup's walk ahead (archiver/prewalk.go),
	// which counts what the backup will visit, exclusions applied.
	pp := newProgress("backup", opts.Progress, func() (int64, int64, bool) {
		p := opts.Progress
		return p.TotalFiles.Load(), p.TotalBytes.Load(), len(paths) > 0 && p.TotalKnown.Load()
	})
	start := time.Now()
	var status *jsonStatus
	if gopts.json && !gopts.quiet {
		status = startJSONStatus(opts.Progress, pp.total)
	}
	sn, err := archiver.Backup(ctx, r, opts)
	o.ops.done(sn)
	pp.done()
	if status != nil {
		status.stop(err == nil)
	}
	if err != nil {
		if refusal != nil && err == refusal {
			return err
		}
		return fmt.Errorf("backup failed, no snapshot was written: %w", err)
	}
	if o.dryRun {
		return printBackupDryRun(sn, start)
	}
	s := sn.Summary
	if gopts.json {
		if err := printJSONLine(backupSummaryJSON{
			MessageType: "summary", SnapshotID: sn.ID().String(), FilesNew: s.FilesNew, FilesChanged: s.FilesChanged,
			FilesUnmodified: s.FilesUnmodified, Dirs: s.Dirs, BytesProcessed: s.BytesProcessed,
			BytesRead: s.BytesRead, DataBlobs: s.DataBlobs, DataAdded: s.DataAdded,
			DataAddedPacked: s.DataAddedPacked, Errors: s.Errors, Partial: sn.Partial,
			DurationSeconds: time.Since(start).Seconds(),
		}); err != nil {
			return err
		}
	} else {
		gopts.printf("Files: %d new, %d changed, %d unmodified; %d dirs\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified, s.Dirs)
		gopts.printf("Added to the repository: %s (%s stored) in %d blobs\n", humanize.IBytes(uint64(s.DataAdded)), humanize.IBytes(uint64(s.DataAddedPacked)), s.DataBlobs)
		gopts.printf("Processed %s (%s read) in %s\n", humanize.IBytes(uint64(s.BytesProcessed)), humanize.IBytes(uint64(s.BytesRead)), time.Since(start).Round(time.Millisecond))
		gopts.printf("snapshot %s saved\n", sn.ID().Short())
	}
	if sn.Partial {
		fmt.Fprintf(gopts.stderr, "Warning: %d file(s) or folder(s) could not be read; snapshot %s is marked partial. Fix the permissions and run the backup again.\n", s.Errors, sn.ID().Short())
		return &exitError{code: exitPartial}
	}
	return nil
}

// findParent picks --parent or the latest snapshot of the same host and
// paths (archiver.FindParent, the rule immich backup uses too).
func findParent(cmd *cobra.Command, r *repo.Repository, o backupOptions, opts archiver.BackupOptions, paths []string) (*repo.Snapshot, error) {
	ctx := cmd.Context()
	if o.parent != "" {
		return r.FindSnapshot(ctx, o.parent, repo.SnapshotFilter{})
	}
	return archiver.FindParent(ctx, r, archiver.ParentQuery{Host: opts.Host, SamePaths: true, Paths: paths, Streams: opts.Streams})
}
