package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newForgetCmd) }

// countFlag is a --keep-* count: a number or "unlimited".
type countFlag struct{ n *int }

func (c countFlag) String() string {
	if *c.n == maintenance.Unlimited {
		return "unlimited"
	}
	return strconv.Itoa(*c.n)
}
func (c countFlag) Set(s string) error {
	if s == "unlimited" || s == "-1" {
		*c.n = maintenance.Unlimited
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return fmt.Errorf("give a number or unlimited")
	}
	*c.n = v
	return nil
}
func (c countFlag) Type() string { return "n" }

type durationFlag struct{ d *maintenance.Duration }

func (f durationFlag) String() string { return f.d.String() }
func (f durationFlag) Set(s string) error {
	d, err := maintenance.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}
func (f durationFlag) Type() string { return "duration" }

type forgetJSON struct {
	Group  maintenance.GroupKey `json:"group"`
	Keep   []forgetSnapJSON     `json:"keep"`
	Remove []forgetSnapJSON     `json:"remove"`
}

type forgetSnapJSON struct {
	ID      string   `json:"id"`
	Time    string   `json:"time"`
	Host    string   `json:"host"`
	Tags    []string `json:"tags,omitempty"`
	Paths   []string `json:"paths"`
	Reasons []string `json:"reasons,omitempty"`
}

func newForgetCmd() *cobra.Command {
	var p maintenance.Policy
	var keepTags []string
	var groupBy string
	var dryRun, prune bool
	var filter repo.SnapshotFilter
	var pf pruneFlags
	cmd := &cobra.Command{
		Use:   "forget [SNAPSHOT...]",
		Short: "Remove snapshots by a retention policy (or by ID)",
		Long: `Remove the given snapshots, or those a retention policy does not keep.
Snapshots are grouped by --group-by (default host,paths) and the policy is
applied to each group; a snapshot is kept when any rule keeps it, and
--dry-run prints each kept snapshot with the rules that keep it. Calendar
buckets (hour, day, ISO week, month, year) use the local time zone (set TZ to
change it); --keep-within* durations count back from the group's newest
snapshot. See docs/RETENTION.md. Forget only removes snapshot files: add
--prune (or run prune) to free their data.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			g, err := maintenance.ParseGroupBy(groupBy)
			if err != nil {
				return err
			}
			for _, t := range keepTags {
				p.Tags = append(p.Tags, strings.Split(t, ","))
			}
			popts, err := pf.options()
			if err != nil {
				return err
			}
			if len(args) > 0 && !p.Empty() {
				return fmt.Errorf("give snapshot IDs or a policy, not both")
			}
			r, err := openRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			removed := 0
			if len(args) > 0 {
				var snaps []*repo.Snapshot
				for _, a := range args {
					sn, err := r.FindSnapshot(ctx, a, repo.SnapshotFilter{})
					if err != nil {
						return err
					}
					snaps = append(snaps, sn)
				}
				if !dryRun {
					if err := r.RemoveSnapshots(ctx, snaps); err != nil {
						return err
					}
				}
				for _, sn := range snaps {
					gopts.printf("removed snapshot %s\n", sn.ID().Short())
				}
				removed = len(snaps)
			} else {
				if p.Empty() {
					return fmt.Errorf("no policy given: nothing would be kept by rule, so nothing is removed. Give --keep-last, --keep-daily, ... (see --help)")
				}
				groups, err := maintenance.Forget(ctx, r, filter, g, p, dryRun)
				if err != nil {
					return err
				}
				var js []forgetJSON
				for _, gr := range groups {
					j := forgetJSON{Group: gr.Key, Keep: []forgetSnapJSON{}, Remove: []forgetSnapJSON{}}
					for _, d := range gr.Decisions {
						s := forgetSnapJSON{ID: d.Snapshot.ID().String(), Time: d.Snapshot.Time.Local().Format("2006-01-02T15:04:05-07:00"),
							Host: d.Snapshot.Host, Tags: d.Snapshot.Tags, Paths: d.Snapshot.Paths, Reasons: d.Reasons}
						if d.Keep {
							j.Keep = append(j.Keep, s)
						} else {
							j.Remove = append(j.Remove, s)
							removed++
						}
					}
					js = append(js, j)
				}
				if gopts.json {
					if err := gopts.printJSON(js); err != nil {
						return err
					}
				} else if !gopts.quiet {
					printForget(js, dryRun)
				}
			}
			if prune && removed > 0 {
				popts.DryRun = dryRun
				return runPrune(cmd, r, popts)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.VarP(countFlag{&p.Last}, "keep-last", "l", "keep the last `n` snapshots (or unlimited)")
	fl.VarP(countFlag{&p.Hourly}, "keep-hourly", "H", "keep the newest snapshot of each of the last `n` hours that have one")
	fl.VarP(countFlag{&p.Daily}, "keep-daily", "d", "keep the newest snapshot of each of the last `n` days that have one")
	fl.VarP(countFlag{&p.Weekly}, "keep-weekly", "w", "keep the newest snapshot of each of the last `n` ISO weeks that have one")
	fl.VarP(countFlag{&p.Monthly}, "keep-monthly", "m", "keep the newest snapshot of each of the last `n` months that have one")
	fl.VarP(countFlag{&p.Yearly}, "keep-yearly", "y", "keep the newest snapshot of each of the last `n` years that have one")
	fl.Var(durationFlag{&p.Within}, "keep-within", "keep snapshots newer than `duration` (e.g. 1y5m7d2h) before the newest")
	fl.Var(durationFlag{&p.WithinHourly}, "keep-within-hourly", "keep hourly snapshots within `duration` of the newest")
	fl.Var(durationFlag{&p.WithinDaily}, "keep-within-daily", "keep daily snapshots within `duration` of the newest")
	fl.Var(durationFlag{&p.WithinWeekly}, "keep-within-weekly", "keep weekly snapshots within `duration` of the newest")
	fl.Var(durationFlag{&p.WithinMonthly}, "keep-within-monthly", "keep monthly snapshots within `duration` of the newest")
	fl.Var(durationFlag{&p.WithinYearly}, "keep-within-yearly", "keep yearly snapshots within `duration` of the newest")
	fl.StringArrayVar(&keepTags, "keep-tag", nil, "keep snapshots with all of these `tags` (comma-separated; repeatable: any list)")
	fl.StringVarP(&groupBy, "group-by", "g", "host,paths", "group snapshots by `fields` (host, paths, tags; \"\" for one group)")
	fl.StringArrayVar(&filter.Hosts, "host", nil, "only consider snapshots of this `host` (repeatable)")
	fl.StringArrayVar(&filter.Tags, "tag", nil, "only consider snapshots with this `tag` (repeatable: all)")
	fl.StringArrayVar(&filter.Paths, "path", nil, "only consider snapshots with this `path` (repeatable: all)")
	fl.BoolVarP(&dryRun, "dry-run", "n", false, "print what would be kept (and why) and removed; change nothing")
	fl.BoolVar(&prune, "prune", false, "run prune afterwards if snapshots were removed")
	pf.register(cmd)
	withPlainOps(cmd, false) // --metrics-file, --log-file (ops_plain.go)
	return cmd
}

func printForget(js []forgetJSON, dryRun bool) {
	for _, g := range js {
		var parts []string
		if g.Group.Host != "" {
			parts = append(parts, "host "+g.Group.Host)
		}
		if len(g.Group.Paths) > 0 {
			parts = append(parts, "paths ["+strings.Join(g.Group.Paths, ", ")+"]")
		}
		if len(g.Group.Tags) > 0 {
			parts = append(parts, "tags ["+strings.Join(g.Group.Tags, ", ")+"]")
		}
		fmt.Fprintf(gopts.stdout, "snapshots for (%s):\n", strings.Join(parts, ", "))
		tw := tabwriter.NewWriter(gopts.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintf(tw, "keep %d snapshots:\n", len(g.Keep))
		fmt.Fprintln(tw, "ID\tTime\tHost\tTags\tReasons")
		for _, s := range g.Keep {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID[:8], s.Time, s.Host, strings.Join(s.Tags, ","), strings.Join(s.Reasons, "; "))
		}
		tw.Flush()
		verb := "removed"
		if dryRun {
			verb = "would remove"
		}
		fmt.Fprintf(gopts.stdout, "%s %d snapshots:", verb, len(g.Remove))
		for _, s := range g.Remove {
			fmt.Fprintf(gopts.stdout, " %s", s.ID[:8])
		}
		fmt.Fprintln(gopts.stdout)
	}
}
