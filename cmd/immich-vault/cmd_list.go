package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

type snapshotJSON struct {
	ID       string                     `json:"id"`
	ShortID  string                     `json:"short_id"`
	Time     time.Time                  `json:"time"`
	Host     string                     `json:"host"`
	Username string                     `json:"username,omitempty"`
	Tags     []string                   `json:"tags"`
	Paths    []string                   `json:"paths"`
	Tree     string                     `json:"tree"`
	Parent   string                     `json:"parent,omitempty"`
	Partial  bool                       `json:"partial"`
	Summary  *repo.Summary              `json:"summary,omitempty"`
	Metadata map[string]json.RawMessage `json:"metadata,omitempty"`
}

func init() { register(newSnapshotsCmd, newLsCmd, newFindCmd, newDiffCmd) }

func toSnapshotJSON(s *repo.Snapshot) snapshotJSON {
	j := snapshotJSON{
		ID: s.ID().String(), ShortID: s.ID().Short(), Time: s.Time, Host: s.Host, Username: s.Username,
		Tags: s.Tags, Paths: s.Paths, Tree: s.Tree.String(), Partial: s.Partial, Summary: s.Summary, Metadata: s.Metadata,
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if s.Parent != nil {
		j.Parent = s.Parent.String()
	}
	return j
}

func newSnapshotsCmd() *cobra.Command {
	var f repo.SnapshotFilter
	var latest int
	var groupBy string
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := openRepoSnapshotsOnly(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			snaps, err := r.Snapshots(ctx, func(id repo.ID, err error) { gopts.warnf("snapshot %s: %v", id.Short(), err) })
			if err != nil {
				return err
			}
			var sel []*repo.Snapshot
			for _, s := range snaps {
				if f.Match(s) {
					sel = append(sel, s)
				}
			}
			if latest < 0 {
				return fmt.Errorf("--latest %d: want a positive number of snapshots per group", latest)
			}
			if cmd.Flags().Changed("group-by") {
				return printSnapshotGroups(sel, groupBy, latest)
			}
			if latest > 0 { // restic's habit: the newest N per host and paths
				_, groups := groupSnapshots(sel, maintenance.GroupBy{Host: true, Paths: true}, latest)
				sel = sel[:0]
				for _, l := range groups {
					sel = append(sel, l...)
				}
				sort.SliceStable(sel, func(i, j int) bool { return sel[i].Time.Before(sel[j].Time) })
			}
			out := []snapshotJSON{}
			for _, s := range sel {
				out = append(out, toSnapshotJSON(s))
			}
			if gopts.json {
				return gopts.printJSON(out)
			}
			printSnapshotTable(out)
			gopts.printf("%d snapshots\n", len(out))
			return nil
		},
	}
	snapshotFilterFlags(cmd, &f, "only snapshots")
	cmd.Flags().IntVar(&latest, "latest", 0, "only the newest `n` snapshots of each group (of each host and paths without --group-by)")
	cmd.Flags().StringVar(&groupBy, "group-by", "", "list snapshots in groups of the same `fields` (host, paths, tags; comma-separated)")
	return cmd
}

// snapshotFilterFlags registers --host, --tag and --path into f. On the
// commands that take a SNAPSHOT argument they say which snapshot "latest"
// is (restic's habit): `restore latest:/srv/immich/library --path
// /srv/immich/library` is the newest snapshot of that folder, not the
// newest snapshot of anything.
func snapshotFilterFlags(cmd *cobra.Command, f *repo.SnapshotFilter, what string) {
	cmd.Flags().StringSliceVar(&f.Hosts, "host", nil, what+" of `host` (repeatable)")
	cmd.Flags().StringSliceVar(&f.Tags, "tag", nil, what+" with `tag` (repeatable: all required)")
	cmd.Flags().StringSliceVar(&f.Paths, "path", nil, what+" including `path` (repeatable)")
}

// latestWhat is snapshotFilterFlags' wording on commands taking SNAPSHOT.
const latestWhat = `"latest" is the newest snapshot`

// openRepoSnapshotsOnly opens the repository as openRepo does, without
// bringing the index cache up to date: `snapshots` reads snapshot files
// only, and must not wait for the index of a large repository.
func openRepoSnapshotsOnly(ctx context.Context) (*repo.Repository, error) {
	opts := gopts.repoOptions()
	opts.SnapshotsOnly = true
	return openRepoWith(ctx, opts)
}

type nodeJSON struct {
	Path       string    `json:"path"`
	Type       string    `json:"type"`
	Size       uint64    `json:"size"`
	Mode       uint32    `json:"mode"`
	Permission string    `json:"permissions"`
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	ModTime    time.Time `json:"mtime"`
	LinkTarget string    `json:"linktarget,omitempty"`
}

func toNodeJSON(p string, n *data.Node) nodeJSON {
	return nodeJSON{Path: p, Type: n.Type, Size: n.Size, Mode: uint32(n.FileMode()), Permission: n.FileMode().String(),
		UID: n.UID, GID: n.GID, ModTime: n.ModTime, LinkTarget: n.Target()}
}

func newLsCmd() *cobra.Command {
	var long bool
	var f repo.SnapshotFilter
	cmd := &cobra.Command{
		Use:   "ls SNAPSHOT [PATH]",
		Short: "List the files of a snapshot (below PATH)",
		Long:  "List every file and directory below PATH (default: all) of SNAPSHOT (an ID prefix or \"latest\").\nWith --json, one JSON object per line.",
		Args:  cobra.RangeArgs(1, 2),
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			ctx := cmd.Context()
			sn, err := r.FindSnapshot(ctx, args[0], f)
			if err != nil {
				return err
			}
			start := "/"
			if len(args) == 2 {
				start = path.Clean("/" + args[1])
			}
			enc := json.NewEncoder(gopts.stdout)
			emit := func(p string, n *data.Node) error {
				switch {
				case gopts.json:
					return enc.Encode(toNodeJSON(p, n))
				case long:
					_, err := fmt.Fprintf(gopts.stdout, "%s %5d %5d %12d %s %s\n", n.FileMode(), n.UID, n.GID, n.Size, n.ModTime.Local().Format("2006-01-02 15:04:05"), p)
					return err
				default:
					_, err := fmt.Fprintln(gopts.stdout, p)
					return err
				}
			}
			node, err := r.FindNode(ctx, sn, start)
			if err != nil {
				return err
			}
			if node != nil && node.Type != data.NodeDir {
				return emit(start, node)
			}
			tree := sn.Tree
			if node != nil {
				tree = *node.Subtree
			}
			return r.Walk(ctx, tree, start, emit)
		}),
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, owner, size and mtime")
	snapshotFilterFlags(cmd, &f, latestWhat)
	return cmd
}

func newFindCmd() *cobra.Command {
	var f repo.SnapshotFilter
	var o findOptions
	cmd := &cobra.Command{
		Use:   "find PATTERN",
		Short: "Find files by name in all snapshots",
		Long:  "Print every file whose name matches the glob PATTERN (or whose full path matches, if PATTERN contains a /), in every snapshot.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			filter, err := data.NewFilter(args)
			if err != nil {
				return err
			}
			if err := o.parse(); err != nil {
				return err
			}
			r, err := openRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			// One reader lock for every snapshot's walk, not one each.
			ctx, release, err := r.HoldForRead(ctx, "find")
			if err != nil {
				return err
			}
			defer release()
			snaps, err := r.Snapshots(ctx, func(id repo.ID, err error) { gopts.warnf("snapshot %s: %v", id.Short(), err) })
			if err != nil {
				return err
			}
			type match struct {
				Snapshot string `json:"snapshot"`
				nodeJSON
			}
			out := []match{}
			if snaps, err = o.selectSnapshots(ctx, r, snaps, f); err != nil {
				return err
			}
			for _, s := range snaps {
				err := r.Walk(ctx, s.Tree, "/", func(p string, n *data.Node) error {
					if filter.Match(p) && o.matchTime(n.ModTime) {
						if gopts.json {
							out = append(out, match{s.ID().String(), toNodeJSON(p, n)})
						} else {
							fmt.Fprintf(gopts.stdout, "%s %s\n", s.ID().Short(), p)
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			if gopts.json {
				return gopts.printJSON(out)
			}
			return nil
		},
	}
	snapshotFilterFlags(cmd, &f, `only snapshots (and "latest" in --snapshot)`)
	o.flags(cmd)
	return cmd
}

func newDiffCmd() *cobra.Command {
	var f repo.SnapshotFilter
	cmd := &cobra.Command{
		Use:   "diff SNAPSHOT1 SNAPSHOT2",
		Short: "Show what changed between two snapshots",
		Long:  "Lines start with + (added), - (removed), M (content changed) or U (metadata only).",
		Args:  cobra.ExactArgs(2),
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			ctx := cmd.Context()
			a, err := r.FindSnapshot(ctx, args[0], f)
			if err != nil {
				return err
			}
			b, err := r.FindSnapshot(ctx, args[1], f)
			if err != nil {
				return err
			}
			type change struct {
				Kind string `json:"kind"`
				Path string `json:"path"`
			}
			out := []change{}
			err = r.Diff(ctx, a.Tree, b.Tree, "/", func(kind rune, p string, n *data.Node) error {
				if n.Type == data.NodeDir {
					p += "/"
				}
				if gopts.json {
					out = append(out, change{string(kind), p})
					return nil
				}
				_, err := fmt.Fprintf(gopts.stdout, "%c    %s\n", kind, p)
				return err
			})
			if err != nil {
				return err
			}
			if gopts.json {
				return gopts.printJSON(out)
			}
			return nil
		}),
	}
	snapshotFilterFlags(cmd, &f, latestWhat)
	return cmd
}
