package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newPruneCmd) }

// exitLocked: another maintenance operation holds the exclusive lock.
const exitLocked = 11

type pruneFlags struct {
	maxUnused     string
	maxRepackSize string
	dryRun        bool
}

func (f *pruneFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.maxUnused, "max-unused", "5%", "tolerate this `share` of unused space in packs (e.g. 5%, 0%, or unlimited)")
	cmd.Flags().StringVar(&f.maxRepackSize, "max-repack-size", "", "read at most this `size` of packs for repacking (e.g. 2G)")
}

func (f *pruneFlags) options() (repo.PruneOptions, error) {
	var o repo.PruneOptions
	switch s := strings.TrimSpace(f.maxUnused); {
	case s == "unlimited":
		o.MaxUnusedPercent = 100
	case strings.HasSuffix(s, "%"):
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || v < 0 || v > 100 {
			return o, fmt.Errorf("--max-unused %q: give a percentage between 0%% and 100%%, or unlimited", s)
		}
		o.MaxUnusedPercent = v
		if v == 0 {
			o.MaxUnusedPercent = -1 // repack every pack with unused data
		}
	default:
		return o, fmt.Errorf("--max-unused %q: give a percentage such as 5%%, or unlimited", s)
	}
	if f.maxRepackSize != "" {
		n, err := humanize.ParseBytes(f.maxRepackSize)
		if err != nil || n == 0 {
			return o, fmt.Errorf("--max-repack-size %q: give a size such as 500M or 2G", f.maxRepackSize)
		}
		o.MaxRepackBytes = int64(n)
	}
	o.DryRun = f.dryRun
	return o, nil
}

func newPruneCmd() *cobra.Command {
	var f pruneFlags
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove data no snapshot references",
		Long: `Remove blobs no snapshot references and repack packs with too much unused
space. New packs and index files are written before anything is deleted, and
only the packs being repacked are read.

Prune runs safely beside backups (it never waits for them, nor they for it):
packs are first condemned, and deleted once no process that started before
they were condemned is still running — at once when no backup is running,
otherwise by the next prune after those backups end (docs/FORMAT.md §10).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options()
			if err != nil {
				return err
			}
			r, err := openRepo(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			return runPrune(cmd, r, opts)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&f.dryRun, "dry-run", "n", false, "only report what would be removed")
	withPlainOps(cmd, false) // --metrics-file, --log-file (ops_plain.go)
	return cmd
}

func runPrune(cmd *cobra.Command, r *repo.Repository, opts repo.PruneOptions) error {
	if gopts.verbose > 0 && !gopts.json {
		opts.Progress = func(msg string) { fmt.Fprintln(gopts.stderr, "prune: "+msg) }
	}
	res, err := r.Prune(cmd.Context(), opts)
	if errors.Is(err, repo.ErrLocked) {
		return lockedErr(err)
	}
	if err != nil {
		return fmt.Errorf("prune failed, nothing referenced was deleted: %w", err)
	}
	tmp, err := tempFiles(cmd.Context(), r, !res.DryRun)
	if err != nil {
		return fmt.Errorf("remove temporary files left by killed processes: %w", err)
	}
	if gopts.json {
		return gopts.printJSON(struct {
			*repo.PruneResult
			TempFiles *tempFilesReport `json:"temp_files,omitempty"`
		}{res, tmp})
	}
	b := func(n int64) string { return humanize.IBytes(uint64(n)) }
	if tmp != nil {
		gopts.printf("temporary files left by killed processes: %d (%s) removed, %d (%s) kept (younger than %v or than a running process's lock)\n",
			tmp.Removed, b(tmp.RemovedBytes), tmp.Count-tmp.Removed, b(tmp.Bytes-tmp.RemovedBytes), repo.LockStaleTimeout)
	}
	verb := ""
	if res.DryRun {
		verb = " (dry run: nothing changed)"
	}
	gopts.printf("repository: %d packs, %s; %d snapshots; %d used blobs, %d unused blobs (%s)%s\n",
		res.PacksTotal, b(res.BytesTotal), res.Snapshots, res.UsedBlobs, res.UnusedBlobs, b(res.UnusedBytes), verb)
	if res.DryRun {
		gopts.printf("would condemn %d packs (%s), repacking %d of them (%s read)\n", res.CondemnedPacks, b(res.CondemnedBytes), res.RepackedPacks, b(res.RepackedBytes))
		return nil
	}
	gopts.printf("condemned %d packs (%s); repacked %d packs (%s read) into %d new packs (%s)\n",
		res.CondemnedPacks, b(res.CondemnedBytes), res.RepackedPacks, b(res.RepackedBytes), res.NewPacks, b(res.NewBytes))
	gopts.printf("deleted %d packs and %d index files: %s freed\n", res.DeletedPacks, res.DeletedIndex, b(res.FreedBytes))
	if res.RescuedPacks > 0 {
		gopts.printf("kept %d condemned packs that snapshots written meanwhile use\n", res.RescuedPacks)
	}
	if res.DeferredPacks > 0 {
		gopts.printf("%d packs (%s) will be deleted by a later prune: %s\n", res.DeferredPacks, b(res.DeferredBytes), res.DeferredReason)
	}
	return nil
}
