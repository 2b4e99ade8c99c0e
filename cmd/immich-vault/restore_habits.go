package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/restorer"
)

// restore --dry-run, --verify and --delete (restic's habits).

type restoreHabits struct {
	dryRun, verify, delete bool
}

func (h *restoreHabits) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVarP(&h.dryRun, "dry-run", "n", false, "write nothing: list what would be restored, overwritten and deleted")
	f.BoolVar(&h.verify, "verify", false, "after restoring, read every restored file back and compare it with the snapshot (exit 1 on any difference)")
	f.BoolVar(&h.delete, "delete", false, "remove entries of the target that the snapshot (or SNAPSHOT:PATH) does not hold; with --dry-run only list them")
}

// apply sets the restore options for the flags.
func (h *restoreHabits) apply(o *restorer.RestoreOptions) {
	o.DryRun, o.Delete = h.dryRun, h.delete
	o.Report = func(action, p string) {
		if gopts.json {
			return
		}
		switch {
		case h.dryRun && (action == restorer.ActionOverwrite || action == restorer.ActionDelete):
			gopts.printf("would %s %s\n", action, p)
		case h.dryRun && gopts.verbose > 0:
			switch action {
			case restorer.ActionRestore:
				gopts.printf("would restore %s\n", p)
			case restorer.ActionKeep:
				gopts.printf("would keep %s (existing, kept by --overwrite)\n", p)
			case restorer.ActionUnchanged:
				gopts.printf("unchanged %s\n", p)
			}
		case !h.dryRun && action == restorer.ActionDelete && gopts.verbose > 0:
			gopts.printf("deleted %s\n", p)
		}
	}
}

// printDryRun reports a restore's dry run.
func (h *restoreHabits) printDryRun(sn *repo.Snapshot, target string, res *restorer.RestoreResult) error {
	if gopts.json {
		return gopts.printJSON(map[string]any{
			"dry_run": true, "snapshot_id": sn.ID().String(), "files": res.Files, "dirs": res.Dirs,
			"bytes": res.Bytes, "overwritten": res.Overwritten, "skipped": res.Skipped, "deleted": res.Deleted,
			"errors": res.Errors, "damaged_files": nonNil(res.Damaged),
		})
	}
	gopts.printf("dry run: would restore %d files, %d dirs (%s) from snapshot %s into %s; %d existing would be overwritten, %d kept, %d deleted; nothing was written\n",
		res.Files, res.Dirs, humanize.IBytes(uint64(res.Bytes)), sn.ID().Short(), target, res.Overwritten, res.Skipped, res.Deleted)
	return nil
}

// testBeforeVerifyEnv names a file that restore --verify creates once the
// restore is done and waits to see removed before it verifies: the
// end-to-end tests change a restored file in between (a test hook, like
// IMMICH_VAULT_TEST_FAULT).
const testBeforeVerifyEnv = "IMMICH_VAULT_TEST_BEFORE_VERIFY"

func waitBeforeVerify() {
	p := os.Getenv(testBeforeVerifyEnv)
	if p == "" {
		return
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return
	}
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return
		}
	}
}

// runVerify reads the restored files back (restore --verify).
func (h *restoreHabits) runVerify(cmd *cobra.Command, r *repo.Repository, sn *repo.Snapshot, o restorer.RestoreOptions) (*restorer.VerifyResult, error) {
	waitBeforeVerify()
	o.Progress = &repo.Progress{}
	start := time.Now()
	pp := newProgress("verify", o.Progress, func() (int64, int64, bool) { return 0, 0, false })
	res, err := restorer.Verify(cmd.Context(), r, sn, o)
	pp.done()
	if err != nil {
		return nil, fmt.Errorf("verify the restored files: %w", err)
	}
	if !gopts.json {
		for _, p := range res.Mismatched {
			gopts.warnf("%s: differs from the snapshot (content, size or type)", p)
		}
		gopts.printf("verified %d files (%s) in %s: %d differ from the snapshot\n", res.Files, humanize.IBytes(uint64(res.Bytes)), time.Since(start).Round(time.Millisecond), len(res.Mismatched))
	}
	return res, nil
}

// verifyError is the failure of a verification that found differences.
func verifyError(res *restorer.VerifyResult) error {
	if res == nil {
		return nil
	}
	if len(res.Mismatched) > 0 {
		list := res.Mismatched
		if len(list) > 20 {
			list = append(list[:20:20], fmt.Sprintf("and %d more", len(res.Mismatched)-20))
		}
		return fmt.Errorf("verification failed: %d restored file(s) differ from the snapshot: %s\nRestore them again (--overwrite if-changed rewrites only those) and check the target's disk", len(res.Mismatched), strings.Join(list, ", "))
	}
	if res.Errors > 0 {
		return fmt.Errorf("verification incomplete: %d file(s) could not be read back (see the warnings above)", res.Errors)
	}
	return nil
}
