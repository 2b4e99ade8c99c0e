package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newCopyCmd) }

// fromOptions name a second (source) repository.
type fromOptions struct {
	repo         string
	passwordFile string
}

func (o *fromOptions) addFlags(cmd *cobra.Command, repoFlag, repoHelp string) {
	f := cmd.Flags()
	f.StringVar(&o.repo, repoFlag, os.Getenv("IMMICH_VAULT_FROM_REPOSITORY"), repoHelp)
	f.StringVar(&o.passwordFile, "from-password-file", os.Getenv("IMMICH_VAULT_FROM_PASSWORD_FILE"),
		"read the source repository's password from `file` (env IMMICH_VAULT_FROM_PASSWORD_FILE)")
}

// open opens the source repository. Its password comes from
// --from-password-file, IMMICH_VAULT_FROM_PASSWORD, or the terminal.
func (o *fromOptions) open(ctx context.Context) (*repo.Repository, error) {
	if o.repo == "" {
		return nil, errors.New("no source repository given: use --from-repo or IMMICH_VAULT_FROM_REPOSITORY")
	}
	be, err := openBackend(o.repo)
	if err != nil {
		return nil, fmt.Errorf("source repository: %w", err)
	}
	if _, err := repo.CheckMarker(ctx, be); err != nil {
		return nil, fmt.Errorf("source repository: %w", err)
	}
	var pw []byte
	switch {
	case o.passwordFile != "":
		pw, err = readPasswordFile(o.passwordFile, "source password file")
		if err != nil {
			return nil, err
		}
	case os.Getenv("IMMICH_VAULT_FROM_PASSWORD") != "":
		pw = []byte(os.Getenv("IMMICH_VAULT_FROM_PASSWORD"))
	default:
		pw, err = promptPassword("enter password for source repository: ")
		if err != nil {
			return nil, fmt.Errorf("source repository: %w (set IMMICH_VAULT_FROM_PASSWORD or --from-password-file)", err)
		}
	}
	// Its index cache is not synced: init needs only its keys, and copy
	// reads the source's index files itself (maintenance.Copy).
	opts := gopts.repoOptions()
	opts.SnapshotsOnly = true
	r, err := repo.Open(ctx, be, pw, opts)
	if errors.Is(err, repo.ErrWrongPassword) {
		return nil, &exitError{code: exitWrongPass, err: fmt.Errorf(
			"wrong password for the source repository %s: check IMMICH_VAULT_FROM_PASSWORD or --from-password-file", be.Location())}
	}
	if err != nil {
		return nil, fmt.Errorf("open source repository %s: %w", be.Location(), err)
	}
	return r, nil
}

func newCopyCmd() *cobra.Command {
	var from fromOptions
	var f repo.SnapshotFilter
	cmd := &cobra.Command{
		Use:   "copy --from-repo SRC [SNAPSHOT...]",
		Short: "Copy snapshots from another repository into this one (e.g. local → S3)",
		Long: `Copy snapshots (all, or the ones named by ID or "latest") from the source
repository into the current one (-r), for an offsite copy: local → S3 or back.

Only blobs the destination lacks are sent; snapshots copied by an earlier run
are recognised (each copy records its source in its metadata) and skipped. An
interrupted copy leaves the destination consistent; run it again to finish.

The two repositories may have different passwords and keys: blobs are then
re-hashed with the destination's key and trees rewritten (the mapping is kept
in the local cache, so a re-run downloads nothing it already copied). A
destination created with ` + "`init --copy-chunker-params-from SRC`" + ` shares
the source's key material: blobs are copied as they are, and files backed up
into either repository deduplicate against the other.

The source's password: --from-password-file, IMMICH_VAULT_FROM_PASSWORD(_FILE),
or the terminal.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, err := from.open(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := openRepo(ctx)
			if err != nil {
				return err
			}
			defer dst.Close()
			return copySnapshots(ctx, src, dst, args, f)
		},
	}
	snapshotFilterFlags(cmd, &f, `only snapshots (without SNAPSHOT arguments) or "latest"`)
	from.addFlags(cmd, "from-repo", "source repository `location` (env IMMICH_VAULT_FROM_REPOSITORY)")
	withPlainOps(cmd, false) // --metrics-file, --log-file (ops_plain.go)
	return cmd
}

// formatBytes renders n with a binary unit.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// copySnapshots copies the snapshots named by args (all when none) from
// src into dst and reports it; run's copy steps call it too.
func copySnapshots(ctx context.Context, src, dst *repo.Repository, args []string, f repo.SnapshotFilter) error {
	var err error
	if src.Config().ID == dst.Config().ID {
		return errors.New("source and destination are the same repository: nothing to copy")
	}
	var snaps []*repo.Snapshot
	if len(args) == 0 {
		snaps, err = src.Snapshots(ctx, func(id repo.ID, err error) {
			gopts.warnf("source snapshot %s cannot be read, skipped: %v", id.Short(), err)
		})
		if err != nil {
			return err
		}
		sel := snaps[:0]
		for _, s := range snaps {
			if f.Match(s) {
				sel = append(sel, s)
			}
		}
		snaps = sel
	}
	for _, a := range args {
		s, err := src.FindSnapshot(ctx, a, f)
		if err != nil {
			return fmt.Errorf("source repository: %w", err)
		}
		snaps = append(snaps, s)
	}
	st, err := maintenance.Copy(ctx, dst, src, snaps, maintenance.CopyOptions{
		Progress: func(s *repo.Snapshot, st *maintenance.CopyStats) {
			gopts.printf("copied snapshot %s (%s, %s) as %s\n", s.ID().Short(), s.Time.Format("2006-01-02 15:04:05"),
				s.Host, st.Copied[s.ID().String()][:8])
		},
	})
	if errors.Is(err, maintenance.ErrCopyCacheUpdate) {
		// Everything is stored; only this host's cache lags behind.
		gopts.warnf("%v: the next command that opens %s brings it up to date", err, dst.Backend().Location())
		err = nil
	}
	if err != nil {
		return fmt.Errorf("copy into %s: %w\nSnapshots copied so far are complete; run copy again to finish.", dst.Backend().Location(), err)
	}
	if gopts.json {
		return gopts.printJSON(st)
	}
	gopts.printf("%d snapshots copied, %d already present; %d blobs (%s) sent, %d already there\n",
		st.SnapshotsCopied, st.SnapshotsSkipped, st.BlobsCopied, formatBytes(st.BytesCopied), st.BlobsPresent)
	return nil
}
