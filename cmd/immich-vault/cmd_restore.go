package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/restorer"
)

func init() { register(newRestoreCmd, newDumpCmd) }

func newRestoreCmd() *cobra.Command {
	var (
		target             string
		includes, excludes []string
		overwrite          string
		noSpaceCheck       bool
		sf                 repo.SnapshotFilter
		habits             restoreHabits // restore_habits.go
	)
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT[:PATH] --target DIR",
		Short: "Restore a snapshot (or one folder of it) into a directory",
		Long: `Restore SNAPSHOT (an ID prefix or "latest") into DIR. With SNAPSHOT:PATH only
PATH is restored, its contents placed directly in DIR.

Every blob is verified while restoring. A non-empty DIR is refused unless
--overwrite says what to do with existing files:
  never       keep existing files as they are
  if-changed  rewrite only files whose content differs (resumes an interrupted restore)
  always      rewrite every file
Files whose data is damaged are reported; everything else is restored (exit code 1).

--dry-run writes nothing and lists what would be overwritten or deleted (-v:
every entry). --verify reads every restored file back and compares it with
the snapshot's blob hashes. --delete removes entries of DIR that the snapshot
(or PATH) does not hold and the filters select; no symlink is followed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if target == "" {
				return errors.New("restore needs --target DIR")
			}
			ow, err := restorer.ParseOverwrite(overwrite)
			if err != nil {
				return err
			}
			inc, err := data.NewFilter(includes)
			if err != nil {
				return err
			}
			exc, err := data.NewFilter(excludes)
			if err != nil {
				return err
			}
			ref, sub, _ := strings.Cut(args[0], ":")
			r, err := openRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			sn, err := r.FindSnapshot(ctx, ref, sf)
			if err != nil {
				return err
			}
			prog := &repo.Progress{}
			var total, files int64
			if sn.Summary != nil && sub == "" {
				total = sn.Summary.BytesProcessed
				files = sn.Summary.FilesNew + sn.Summary.FilesChanged + sn.Summary.FilesUnmodified
			}
			pp := newProgress("restore", prog, func() (int64, int64, bool) { return files, total, total > 0 })
			start := time.Now()
			ropts := restorer.RestoreOptions{
				Target: target, SubPath: sub, Include: inc, Exclude: exc, Overwrite: ow, Progress: prog,
				SpaceCheck: restoreSpaceCheck(target, noSpaceCheck, "restore a part of the snapshot (SNAPSHOT:PATH, --include)"),
				Warn: func(p string, err error) {
					if errors.Is(err, restorer.ErrEntryInTheWay) {
						gopts.warnf("%s: %v; pass --overwrite always or if-changed to replace it", p, err)
						return
					}
					gopts.warnf("%s: %v", p, err)
				},
			}
			habits.apply(&ropts)
			res, err := restorer.Restore(ctx, r, sn, ropts)
			pp.done()
			if errors.Is(err, repo.ErrTargetNotEmpty) {
				return fmt.Errorf("%w: refusing to restore into it; choose an empty directory or pass --overwrite never|if-changed|always", err)
			}
			if errors.Is(err, restorer.ErrTargetFull) && res != nil && !gopts.json {
				gopts.printf("restored %d files (%s) from snapshot %s into %s before its disk filled up, in %s; %d existing files kept\n",
					res.Files, humanize.IBytes(uint64(res.Bytes)), sn.ID().Short(), target, time.Since(start).Round(time.Millisecond), res.Skipped)
			}
			if err != nil {
				return err
			}
			if habits.dryRun {
				if err := habits.printDryRun(sn, target, res); err != nil {
					return err
				}
				if res.Errors > 0 {
					return fmt.Errorf("%d problem(s) found (see the warnings above)", res.Errors)
				}
				return nil
			}
			var vres *restorer.VerifyResult
			if habits.verify {
				if vres, err = habits.runVerify(cmd, r, sn, ropts); err != nil {
					return err
				}
			}
			if gopts.json {
				out := map[string]any{
					"snapshot_id": sn.ID().String(), "files": res.Files, "dirs": res.Dirs, "hardlinks": res.Links,
					"bytes": res.Bytes, "skipped": res.Skipped, "errors": res.Errors, "damaged_files": nonNil(res.Damaged),
					"unwritten_files":       nonNil(res.Unwritten),
					"metadata_not_restored": notRestored(res.NotRestored),
					"duration_seconds":      time.Since(start).Seconds(),
				}
				if habits.delete {
					out["deleted"] = res.Deleted
				}
				if vres != nil {
					out["verified_files"] = vres.Files
					out["verify_mismatched"] = nonNil(vres.Mismatched)
				}
				if err := gopts.printJSON(out); err != nil {
					return err
				}
			} else {
				gopts.printf("restored %d files, %d dirs, %d hardlinks (%s) from snapshot %s into %s in %s; %d existing files kept\n",
					res.Files, res.Dirs, res.Links, humanize.IBytes(uint64(res.Bytes)), sn.ID().Short(), target, time.Since(start).Round(time.Millisecond), res.Skipped)
				if habits.delete {
					gopts.printf("deleted %d entries not in the snapshot\n", res.Deleted)
				}
				if len(res.NotRestored) > 0 {
					gopts.printf("not restored (the target file system does not support them or this user may not set them): %s\n", formatNotRestored(res.NotRestored))
				}
			}
			if len(res.Damaged) > 0 {
				return fmt.Errorf("%d file(s) could not be restored because their data is damaged or missing: %s\nRun `immich-vault check --read-data` for details", len(res.Damaged), somePaths(res.Damaged))
			}
			if len(res.Unwritten) > 0 {
				return fmt.Errorf("%d file(s) could not be written to the target (see the warnings above; their data in the repository is not affected): %s\nFix what the warnings name (permissions, a read-only or failing disk), then run the same command again with --overwrite if-changed", len(res.Unwritten), somePaths(res.Unwritten))
			}
			if res.Errors > 0 {
				return fmt.Errorf("%d error(s) while restoring (see the warnings above)", res.Errors)
			}
			return verifyError(vres)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&target, "target", "t", "", "restore into `directory`")
	f.StringArrayVarP(&includes, "include", "i", nil, "restore only paths matching `pattern` (repeatable)")
	f.StringArrayVarP(&excludes, "exclude", "e", nil, "skip paths matching `pattern` (repeatable)")
	f.StringVar(&overwrite, "overwrite", "", "existing files: never|if-changed|always (default: refuse a non-empty target)")
	f.BoolVar(&noSpaceCheck, "no-space-check", false, "skip the check that an empty or missing target's disk has room for the restore")
	habits.flags(cmd)
	snapshotFilterFlags(cmd, &sf, latestWhat)
	return cmd
}

// notRestored is the JSON of RestoreResult.NotRestored: always an object.
func notRestored(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// formatNotRestored lists "3 acl, 1 flags" in name order.
func formatNotRestored(m map[string]int64) string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newDumpCmd() *cobra.Command {
	var f repo.SnapshotFilter
	cmd := &cobra.Command{
		Use:   "dump SNAPSHOT PATH",
		Short: "Write one file of a snapshot to standard output",
		Args:  cobra.ExactArgs(2),
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			ctx := cmd.Context()
			sn, err := r.FindSnapshot(ctx, args[0], f)
			if err != nil {
				return err
			}
			p := "/" + strings.TrimLeft(args[1], "/")
			n, err := r.FindNode(ctx, sn, p)
			if err != nil {
				return err
			}
			if n == nil || n.Type != data.NodeFile {
				return fmt.Errorf("%s is not a regular file; dump writes one file", p)
			}
			if err := r.DumpFile(ctx, n, gopts.stdout); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return fmt.Errorf("dump %s: %w", p, err)
			}
			return nil
		}),
	}
	snapshotFilterFlags(cmd, &f, latestWhat)
	return cmd
}
