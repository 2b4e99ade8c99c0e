package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newUnlockCmd) }

func newUnlockCmd() *cobra.Command {
	var removeAll bool
	var host string
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove stale locks (and, when you are sure, live ones)",
		Long: `Remove the locks of processes that no longer run.

A lock is stale when it was not refreshed for 30 minutes (measured on the
storage's clock, so hosts whose clocks disagree do not matter), or when it was
taken on this machine, in this PID namespace, by a process that no longer
exists. Stale locks never block anything; unlock only tidies them up.

A prune or repair that crashed on another host blocks the next prune or repair
until its lock is 30 minutes old. If you are sure that no immich-vault process
runs on that host any more (it was switched off, the container was removed),
remove its locks at once with --host NAME. --remove-all removes every lock,
live or not: only use it when you are sure that no other process (on any host)
uses the repository; removing a running backup's lock lets prune delete data
that backup still needs. Pending deletions of prune are never removed.`,
		Args: cobra.NoArgs,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			res, err := r.RemoveLocks(cmd.Context(), repo.UnlockOptions{RemoveAll: removeAll, Host: host})
			if err != nil {
				return fmt.Errorf("unlock: %w", err)
			}
			if gopts.json {
				return gopts.printJSON(res)
			}
			for _, l := range res.Removed {
				gopts.printf("removed: %s (%s)\n", describeLock(l), l.Reason)
			}
			for _, l := range res.Kept {
				gopts.printf("kept:    %s\n", describeLock(l))
			}
			gopts.printf("%d lock(s) removed, %d kept\n", len(res.Removed), len(res.Kept))
			if len(res.Kept) > 0 && !removeAll {
				gopts.printf("Kept locks may belong to running processes. If you are sure that nothing runs on a host any more, run `immich-vault unlock --host NAME`.\n")
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&removeAll, "remove-all", false, "remove every lock, also live ones (only when no other process uses the repository)")
	cmd.Flags().StringVar(&host, "host", "", "also remove the locks of host `NAME` (only when nothing runs there any more)")
	return cmd
}

func describeLock(l repo.LockReport) string {
	age := "age unknown"
	if l.AgeSeconds >= 0 {
		age = "refreshed " + (time.Duration(l.AgeSeconds) * time.Second).String() + " ago"
	}
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	user := ""
	if l.Username != "" {
		user = ", user " + l.Username
	}
	return fmt.Sprintf("%s on host %s (pid %d%s, %s lock, %s)", l.Purpose, l.Host, l.PID, user, kind, age)
}

// lockedErr turns a refused exclusive lock into exit code 11 and a message
// that names the holder and the way out.
func lockedErr(err error) error {
	var le *repo.LockedError
	if !errors.As(err, &le) {
		if errors.Is(err, repo.ErrLocked) {
			return &exitError{code: exitLocked, err: err}
		}
		return err
	}
	h := le.Holder
	age := "at an unknown time"
	if le.Age >= 0 {
		age = le.Age.Round(time.Second).String() + " ago"
	}
	user := ""
	if h.Username != "" {
		user = ", user " + h.Username
	}
	return &exitError{code: exitLocked, err: fmt.Errorf(
		"the repository is locked: %s is running on host %s (pid %d%s), its lock was last refreshed %s.\n"+
			"Wait for it to finish and try again; a lock whose process crashed stops blocking %v after its last refresh.\n"+
			"If you are sure that no immich-vault process runs on host %s any more, run `immich-vault unlock --host %s`; "+
			"`immich-vault unlock` lists the locks",
		h.Purpose, h.Host, h.PID, user, age, repo.LockStaleTimeout, h.Host, h.Host)}
}
