package main

import (
	"fmt"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newCheckCmd) }

func newCheckCmd() *cobra.Command {
	var readData bool
	var subset string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository's integrity",
		Long: `Check that every key file, index file and lock file is intact, every pack
exists and its header matches the index, and every snapshot's trees and blobs
are present. With --read-data every blob of every pack is decrypted and
verified as well (packs are verified in parallel); --read-data-subset does so
for part of the packs only:
  n/m   the n-th of m groups (run 1/m ... m/m on successive days to cover all)
  P%    a random P percent of the packs
  SIZE  random packs up to SIZE bytes (e.g. 500M, 2G)
Damaged blobs are traced to the snapshots and files that use them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			opts := repo.CheckOptions{ReadData: readData}
			if subset != "" {
				if readData {
					return fmt.Errorf("--read-data and --read-data-subset exclude each other: give one")
				}
				s, err := repo.ParseSubset(subset)
				if err != nil {
					return err
				}
				opts.ReadDataSubset = s
			}
			r, err := openRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			prog := &repo.Progress{}
			var packs atomic.Int64 // total and ETA on the progress line
			pp := newProgress("check: packs", prog, func() (int64, int64, bool) { return packs.Load(), 0, packs.Load() > 0 })
			opts.Progress = func(done, total int) { prog.Files.Store(int64(done)); packs.Store(int64(total)) }
			res, err := r.Check(ctx, opts)
			pp.done()
			if err != nil {
				return err
			}
			if res.Problems == nil {
				res.Problems = []string{}
			}
			tmp, err := tempFiles(ctx, r, false)
			if err != nil {
				return err
			}
			if gopts.json {
				if err := gopts.printJSON(struct {
					*repo.CheckResult
					TempFiles *tempFilesReport `json:"temp_files,omitempty"`
				}{res, tmp}); err != nil {
					return err
				}
			} else {
				gopts.printf("checked %d packs, %d blobs, %d snapshots, %d keys (read data: %d packs, %d bytes)\n",
					res.Packs, res.Blobs, res.Snapshots, res.Keys, res.PacksRead, res.BytesRead)
				for _, p := range res.Problems {
					fmt.Fprintln(gopts.stdout, "error: "+p)
				}
				for _, d := range res.Damaged {
					fmt.Fprintf(gopts.stdout, "damaged %s blob %s (pack %s): %s\n", d.Type, d.ID, d.Pack, d.Reason)
				}
				for _, a := range res.Affected {
					fmt.Fprintf(gopts.stdout, "affected: snapshot %s file %s (blob %s)\n", a.Snapshot[:8], a.Path, a.Blob)
				}
				if len(res.Unindexed) > 0 {
					gopts.printf("%d pack(s) are not in the index (left by an interrupted backup, or in use by a running one; prune removes them)\n", len(res.Unindexed))
				}
				if tmp != nil {
					gopts.printf("%d temporary file(s) (%s) in the repository: left by a process that was killed, or in use by a running one; prune removes them once they are older than %v and than every running process's lock\n",
						tmp.Count, formatBytes(tmp.Bytes), repo.LockStaleTimeout)
				}
				if res.Pending > 0 {
					gopts.printf("%d pack(s) are condemned and will be deleted by a later prune\n", res.Pending)
				}
			}
			if !res.OK() {
				return fmt.Errorf("the repository has errors: %d problem(s), %d damaged blob(s), %d affected file(s). %s",
					len(res.Problems), len(res.Damaged), len(res.Affected), checkAdvice(res))
			}
			gopts.printf("no errors were found\n")
			return nil
		},
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "decrypt and verify all data (reads the whole repository)")
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "decrypt and verify a `subset` of the packs: n/m, P% or a size")
	return cmd
}

// checkAdvice says what to do about the problems check found. Every
// command it names is safe to run as is: repair index keeps every blob that
// still authenticates (a damaged pack's intact blobs are copied into a new
// pack), and repair snapshots only rewrites snapshots around blobs that
// are missing from the rebuilt index.
func checkAdvice(res *repo.CheckResult) string {
	snaps := ""
	if len(res.DamagedSnapshots) > 0 {
		snaps = fmt.Sprintf(" %d snapshot file(s) cannot be read: `immich-vault repair snapshots` stores again those whose content "+
			"authenticates under another name (swapped or renamed) and removes the others (they can never be read).", len(res.DamagedSnapshots))
	}
	if len(res.Damaged) == 0 && len(res.Affected) == 0 {
		msg := "No file of a readable snapshot is affected"
		if res.ReadData {
			msg += " (every blob was read and verified)"
		}
		return msg + ". Run `immich-vault repair index` to rebuild the index and copy the intact blobs of any damaged pack into a new one " +
			"(prune then deletes the damaged pack)." + snaps + " A damaged key or lock file named above can be deleted by hand (a key that is only misnamed must be renamed as said, not deleted)"
	}
	return "Files not listed restore normally. Run `immich-vault repair index --read-data` (it keeps every blob that still authenticates " +
		"and copies those of damaged packs into new ones) then `immich-vault repair snapshots` to rewrite the affected snapshots " +
		"around the lost data (affected files are renamed *.damaged); back up again to store the lost files anew"
}
