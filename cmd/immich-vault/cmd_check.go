package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newCheckCmd) }

func newCheckCmd() *cobra.Command {
	var readData bool
	var subset, budget, maxAge string
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

--read-data-budget DURATION verifies packs resumably, for repositories too
large to read in one go: the packs not verified for the longest time (never
verified first) are read, in parallel, until DURATION is spent, and each pack
found intact is remembered (in the local cache) with the time. Nightly runs
of "check --read-data-budget 30m" thus cover every pack in turn; with
--read-data-max-age AGE (e.g. 30d) packs verified less than AGE ago are not
read again, and the report says how many packs are covered and when the
oldest verification was.
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
			if budget != "" {
				if readData || subset != "" {
					return fmt.Errorf("--read-data-budget excludes --read-data and --read-data-subset: give one")
				}
				d, err := parseAge(budget)
				if err != nil || d <= 0 {
					return fmt.Errorf("invalid --read-data-budget %q: give a duration such as 30m, 2h or 1d", budget)
				}
				opts.ReadDataBudget = d
			}
			if maxAge != "" {
				if budget == "" {
					return fmt.Errorf("--read-data-max-age needs --read-data-budget")
				}
				d, err := parseAge(maxAge)
				if err != nil || d <= 0 {
					return fmt.Errorf("invalid --read-data-max-age %q: give a duration such as 7d or 720h", maxAge)
				}
				opts.ReadDataMaxAge = d
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
			emptyCheckLists(res) // --json: [] never null
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
				if c := res.Coverage; c != nil {
					gopts.printf("read data: %d of %d due packs verified this run (%s), %d still due; %d of %d packs covered",
						c.Verified, c.Due, humanize.IBytes(uint64(c.Bytes)), c.Remaining, c.Covered, c.Total)
					if !c.Oldest.IsZero() {
						gopts.printf(", oldest verification %s", c.Oldest.Local().Format("2006-01-02 15:04"))
					}
					gopts.printf("\n")
					if c.NotRemembered {
						gopts.warnf("no cache (--no-cache): this run's verifications are not remembered")
					}
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
	cmd.Flags().StringVar(&budget, "read-data-budget", "", "verify the packs not verified for the longest time for at most `DURATION` (e.g. 30m), remembering them across runs")
	cmd.Flags().StringVar(&maxAge, "read-data-max-age", "", "with --read-data-budget: packs verified less than `AGE` ago (e.g. 30d) are not read again")
	withPlainOps(cmd, false) // --metrics-file, --log-file (ops_plain.go)
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

// parseAge parses a Go duration or a number of days ("7d").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}
