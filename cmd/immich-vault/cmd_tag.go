package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newTagCmd) }

type tagChangedJSON struct {
	OldID string   `json:"old_snapshot_id"`
	NewID string   `json:"new_snapshot_id"`
	Tags  []string `json:"tags"`
}

type tagJSON struct {
	Changed   []tagChangedJSON `json:"changed"`
	Unchanged int              `json:"unchanged"`
}

func newTagCmd() *cobra.Command {
	var f repo.SnapshotFilter
	var c repo.TagChange
	cmd := &cobra.Command{
		Use:   "tag {--add|--remove|--set} TAG [SNAPSHOT...]",
		Short: "Add, remove or set the tags of snapshots",
		Long: `Change the tags of the given snapshots (IDs or "latest"), or of every
snapshot passing --host/--tag/--path when none is given.

A snapshot's ID is the hash of its file, so a snapshot whose tags change
gets a new ID (printed): its new file is stored first, then the old one is
removed. Nothing else of the snapshot changes, and no data is rewritten.
--set "" removes every tag.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.SetGiven = cmd.Flags().Changed("set")
			if !c.SetGiven && len(c.Add) == 0 && len(c.Remove) == 0 {
				return errors.New("nothing to do: give --add, --remove or --set")
			}
			if c.SetGiven && (len(c.Add) > 0 || len(c.Remove) > 0) {
				return errors.New("--set replaces all tags: give it alone, or use --add and --remove")
			}
			ctx := cmd.Context()
			r, err := openRepoSnapshotsOnly(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			var snaps []*repo.Snapshot
			if len(args) == 0 {
				all, err := r.Snapshots(ctx, func(id repo.ID, err error) { gopts.warnf("snapshot %s: %v", id.Short(), err) })
				if err != nil {
					return err
				}
				for _, s := range all {
					if f.Match(s) {
						snaps = append(snaps, s)
					}
				}
			} else {
				seen := map[repo.ID]bool{}
				for _, a := range args {
					s, err := r.FindSnapshot(ctx, a, f)
					if err != nil {
						return err
					}
					if !seen[s.ID()] {
						seen[s.ID()] = true
						snaps = append(snaps, s)
					}
				}
			}
			// The immich tag is how immich restore, verify and backup find
			// Immich snapshots: never dropped from one.
			drops := slices.Contains(c.Remove, immich.Tag) || c.SetGiven && !slices.Contains(c.Set, immich.Tag)
			for _, s := range snaps {
				if drops && s.HasTag(immich.Tag) {
					return fmt.Errorf("snapshot %s is an Immich snapshot: its %q tag is how immich restore, verify and backup find it, so it stays (e.g. --set %s,TAG, or --add/--remove other tags)", s.ID().Short(), immich.Tag, immich.Tag)
				}
			}
			out := tagJSON{Changed: []tagChangedJSON{}}
			changed, err := r.Tag(ctx, snaps, c, func(rt repo.Retagged) {
				if rt.Tags == nil {
					rt.Tags = []string{}
				}
				out.Changed = append(out.Changed, tagChangedJSON{rt.Old.String(), rt.New.String(), rt.Tags})
				if !gopts.json {
					gopts.printf("snapshot %s is now %s (tags: %s)\n", rt.Old.Short(), rt.New.Short(), joinOr(rt.Tags, "none"))
				}
			})
			out.Unchanged = len(snaps) - len(changed)
			if err != nil {
				return err
			}
			if gopts.json {
				return gopts.printJSON(out)
			}
			gopts.printf("%d snapshots changed, %d unchanged\n", len(changed), out.Unchanged)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&c.Add, "add", nil, "add `tag` (repeatable, or comma-separated)")
	cmd.Flags().StringSliceVar(&c.Remove, "remove", nil, "remove `tag` (repeatable, or comma-separated)")
	cmd.Flags().StringSliceVar(&c.Set, "set", nil, "replace all tags by `tag` (repeatable; \"\" for none)")
	snapshotFilterFlags(cmd, &f, `snapshots (without SNAPSHOT arguments) or "latest"`)
	return cmd
}

func joinOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}
