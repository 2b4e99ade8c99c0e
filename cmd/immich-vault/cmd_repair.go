package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newRepairCmd) }

func newRepairCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repair", Short: "Repair the index or snapshots of a damaged repository"}
	var readData, dryRun bool
	idx := &cobra.Command{
		Use:   "index",
		Short: "Rebuild the index from the pack headers",
		Long: `Rebuild the repository's index from the headers of every pack: packs no index
lists (left by interrupted backups) are adopted. No blob that still
authenticates is ever left out: the entries of the old index files are
verified against the packs and kept when the blob decrypts and matches its
ID. A damaged pack (header unreadable, or content that does not match its
name) has every intact blob copied into a new pack; the damaged pack is no
longer indexed and prune deletes it. With --read-data every blob of every
pack is verified and damaged ones are left out of the index; run repair
snapshots afterwards to rewrite the snapshots that used them, and back up
again to store the lost data anew. Pending deletions are cancelled (the next
prune condemns again what is still unused).`,
		Args: cobra.NoArgs,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			res, err := r.RepairIndex(cmd.Context(), repo.RepairIndexOptions{ReadData: readData, DryRun: dryRun})
			if err != nil {
				return lockedErr(err)
			}
			if res.UnreadablePack == nil {
				res.UnreadablePack = []string{}
			}
			if res.SalvagedPacks == nil {
				res.SalvagedPacks = []string{}
			}
			if res.UnverifiedPacks == nil {
				res.UnverifiedPacks = []string{}
			}
			if gopts.json {
				return gopts.printJSON(res)
			}
			verb := "wrote"
			if dryRun {
				verb = "would write"
			}
			gopts.printf("%s %d index files for %d packs, %d blobs (replacing %d index files); adopted %d unindexed packs\n",
				verb, res.NewIndexFiles, res.Packs, res.Blobs, res.OldIndexFiles, res.AdoptedPacks)
			if res.DroppedBlobs > 0 {
				gopts.printf("%d damaged blobs left out of the index: run `immich-vault repair snapshots` next\n", res.DroppedBlobs)
			}
			if len(res.SalvagedPacks) > 0 {
				gopts.printf("%s %d intact blobs of %d damaged pack(s) into new packs; prune deletes the damaged packs\n",
					map[bool]string{true: "would copy", false: "copied"}[dryRun], res.SalvagedBlobs, len(res.SalvagedPacks))
			}
			for _, p := range res.UnreadablePack {
				fmt.Fprintf(gopts.stdout, "pack %s: damaged, and no blob in it authenticates: its blobs are lost\n", p)
			}
			for _, p := range res.UnverifiedPacks {
				fmt.Fprintf(gopts.stdout, "pack %s: could not be read; its index entries are kept unverified (run repair index again when it can be read)\n", p)
			}
			if res.CancelledPacks > 0 {
				gopts.printf("cancelled the pending deletion of %d packs\n", res.CancelledPacks)
			}
			return nil
		}),
	}
	idx.Flags().BoolVar(&readData, "read-data", false, "verify every blob and leave damaged ones out")
	idx.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "only report what would be done")

	var snapRead, snapDry bool
	snaps := &cobra.Command{
		Use:   "snapshots",
		Short: "Rewrite snapshots around missing or damaged data",
		Long: `Rewrite every snapshot that references missing data: a file that lost blobs
keeps what is left and is renamed NAME.damaged, a directory whose listing is
lost becomes an empty NAME.damaged. The new snapshot is tagged "repaired" and
records the damaged files; the old one is removed. Snapshot files that fail
authentication are removed. With --read-data every blob is verified first
(as check --read-data) and damaged ones count as missing.`,
		Args: cobra.NoArgs,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			ctx := cmd.Context()
			opts := repo.RepairSnapshotsOptions{DryRun: snapDry}
			if snapRead {
				cr, err := r.Check(ctx, repo.CheckOptions{ReadData: true})
				if err != nil {
					return err
				}
				for _, d := range cr.Damaged {
					if d.Handle.Type == pack.DataBlob || d.Handle.Type == pack.TreeBlob {
						opts.Damaged = append(opts.Damaged, d.Handle)
					}
				}
			}
			res, err := r.RepairSnapshots(ctx, opts)
			if err != nil {
				return lockedErr(err)
			}
			if gopts.json {
				if res == nil {
					res = []repo.RepairedSnapshot{}
				}
				return gopts.printJSON(res)
			}
			if len(res) == 0 {
				gopts.printf("no snapshot needs repair\n")
			}
			for _, s := range res {
				switch {
				case s.Removed:
					fmt.Fprintf(gopts.stdout, "snapshot %s is unreadable (%s): removed\n", s.Old[:8], s.Error)
				case s.Error != "":
					fmt.Fprintf(gopts.stdout, "snapshot %s: %s\n", s.Old[:8], s.Error)
				default:
					if snapDry {
						fmt.Fprintf(gopts.stdout, "snapshot %s would be rewritten; damaged:\n", s.Old[:8])
					} else {
						fmt.Fprintf(gopts.stdout, "snapshot %s rewritten as %s; damaged:\n", s.Old[:8], s.New[:8])
					}
					for _, f := range s.DamagedFiles {
						fmt.Fprintf(gopts.stdout, "  %s\n", f)
					}
				}
			}
			return nil
		}),
	}
	snaps.Flags().BoolVar(&snapRead, "read-data", false, "verify every blob first; damaged ones count as missing")
	snaps.Flags().BoolVarP(&snapDry, "dry-run", "n", false, "only report what would be rewritten")
	cmd.AddCommand(idx, snaps)
	return cmd
}
