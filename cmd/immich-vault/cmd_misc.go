package main

import (
	"fmt"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newKeyCmd, newStatsCmd, newVersionCmd) }

func newKeyCmd() *cobra.Command {
	var newPasswordFile string
	key := &cobra.Command{Use: "key", Short: "Manage the passwords (keys) of the repository"}
	key.PersistentFlags().StringVar(&newPasswordFile, "new-password-file", "", "read the new password from `file`")
	key.AddCommand(&cobra.Command{
		Use: "list", Short: "List keys", Args: cobra.NoArgs,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			keys, err := r.Keys(cmd.Context())
			if err != nil {
				return err
			}
			if gopts.json {
				return gopts.printJSON(keys)
			}
			tw := tabwriter.NewWriter(gopts.stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, " \tID\tUser\tHost\tCreated")
			for _, k := range keys {
				cur := " "
				if k.Current {
					cur = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cur, k.ID[:8], k.Username, k.Hostname, k.Created.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		}),
	}, &cobra.Command{
		Use: "add", Short: "Add a password", Args: cobra.NoArgs,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			pw, err := readNewPassword(newPasswordFile)
			if err != nil {
				return err
			}
			id, err := r.AddKey(cmd.Context(), pw)
			if err != nil {
				return err
			}
			if gopts.json {
				return gopts.printJSON(map[string]string{"id": id})
			}
			gopts.printf("added key %s\n", id[:8])
			return nil
		}),
	}, &cobra.Command{
		Use: "remove ID", Short: "Remove a key (not the one in use)", Args: cobra.ExactArgs(1),
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			if err := r.RemoveKey(cmd.Context(), strings.ToLower(args[0])); err != nil {
				if err == repo.ErrKeyInUse {
					return fmt.Errorf("key %s is the one you opened the repository with: open it with another password to remove this one", args[0])
				}
				return err
			}
			gopts.printf("removed key %s\n", args[0])
			return nil
		}),
	}, &cobra.Command{
		Use: "passwd", Short: "Change the password in use (no data is re-encrypted)", Args: cobra.NoArgs,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			pw, err := readNewPassword(newPasswordFile)
			if err != nil {
				return err
			}
			id, err := r.ChangePassword(cmd.Context(), pw)
			if err != nil {
				return err
			}
			gopts.printf("password changed; new key %s\n", id[:8])
			return nil
		}),
	})
	return key
}

func newStatsCmd() *cobra.Command {
	var f repo.SnapshotFilter
	var mode string
	cmd := &cobra.Command{
		Use:   "stats [SNAPSHOT...]",
		Short: "Show repository statistics",
		Long: `Show statistics of the given snapshots (IDs or "latest"), or of every
snapshot passing --host/--tag/--path.

--mode (restic's modes):
  restore-size       files and bytes a restore of them writes (files shared
                     by snapshots counted in each)
  files-by-contents  distinct file contents (a file saved by several
                     snapshots, or twice in one, counted once)
  raw-data           the distinct blobs they reference: plaintext size and
                     size stored in the repository (what forgetting them
                     all, then prune, would free at most)
Without --mode: a summary of the first two and the repository's size.`,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			ctx := cmd.Context()
			var snaps []*repo.Snapshot
			for _, a := range args {
				s, err := r.FindSnapshot(ctx, a, f)
				if err != nil {
					return err
				}
				snaps = append(snaps, s)
			}
			if len(args) == 0 && len(f.Hosts)+len(f.Tags)+len(f.Paths) > 0 {
				all, err := r.Snapshots(ctx, func(id repo.ID, err error) { gopts.warnf("snapshot %s: %v", id.Short(), err) })
				if err != nil {
					return err
				}
				snaps = []*repo.Snapshot{}
				for _, s := range all {
					if f.Match(s) {
						snaps = append(snaps, s)
					}
				}
			}
			switch mode {
			case "", "restore-size", "files-by-contents":
			case "raw-data":
				st, err := r.RawDataStats(ctx, snaps)
				if err != nil {
					return err
				}
				if gopts.json {
					return gopts.printJSON(map[string]any{"mode": mode, "snapshots": st.Snapshots, "total_blob_count": st.Blobs,
						"total_uncompressed_size": st.RawSize, "total_size": st.StoredSize, "missing_blob_count": st.Missing})
				}
				gopts.printf("snapshots:        %d\n", st.Snapshots)
				gopts.printf("blobs:            %d\n", st.Blobs)
				gopts.printf("raw data:         %s\n", humanize.IBytes(uint64(st.RawSize)))
				gopts.printf("stored size:      %s\n", humanize.IBytes(uint64(st.StoredSize)))
				if st.StoredSize > 0 {
					gopts.printf("compression ratio: %.2fx\n", float64(st.RawSize)/float64(st.StoredSize))
				}
				if st.Missing > 0 {
					gopts.warnf("%d referenced blobs are missing from the index: run check", st.Missing)
				}
				return nil
			default:
				return fmt.Errorf("unknown --mode %q: want restore-size, files-by-contents or raw-data", mode)
			}
			st, err := r.Stats(ctx, snaps)
			if err != nil {
				return err
			}
			switch mode {
			case "restore-size":
				if gopts.json {
					return gopts.printJSON(map[string]any{"mode": mode, "snapshots": st.Snapshots, "total_file_count": st.Files, "total_size": st.TotalSize})
				}
				gopts.printf("snapshots:        %d\n", st.Snapshots)
				gopts.printf("files:            %d\n", st.Files)
				gopts.printf("restore size:     %s\n", humanize.IBytes(uint64(st.TotalSize)))
				return nil
			case "files-by-contents":
				if gopts.json {
					return gopts.printJSON(map[string]any{"mode": mode, "snapshots": st.Snapshots, "total_file_count": st.UniqueFiles})
				}
				gopts.printf("snapshots:        %d\n", st.Snapshots)
				gopts.printf("distinct files:   %d (of %d)\n", st.UniqueFiles, st.Files)
				return nil
			}
			if gopts.json {
				return gopts.printJSON(st)
			}
			gopts.printf("snapshots:        %d\n", st.Snapshots)
			gopts.printf("files:            %d (%d unique)\n", st.Files, st.UniqueFiles)
			gopts.printf("restore size:     %s\n", humanize.IBytes(uint64(st.TotalSize)))
			gopts.printf("blobs:            %d in %d packs\n", st.Blobs, st.Packs)
			gopts.printf("repository size:  %s\n", humanize.IBytes(uint64(st.RepositorySize)))
			if st.RepositorySize > 0 {
				gopts.printf("dedup+compression ratio: %.2fx\n", float64(st.TotalSize)/float64(st.RepositorySize))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&mode, "mode", "", "what to count: `mode` restore-size, files-by-contents or raw-data (see above)")
	snapshotFilterFlags(cmd, &f, `only snapshots (and "latest")`)
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print version information", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if gopts.json {
				return gopts.printJSON(map[string]any{"version": version, "go": runtime.Version(), "format_version": repo.NewestVersion})
			}
			fmt.Fprintf(gopts.stdout, "immich-vault %s (repository format %d, %s %s/%s)\n", version, repo.NewestVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
