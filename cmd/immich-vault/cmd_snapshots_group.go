package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"

	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/repo"
)

// snapshotGroupJSON is one group of `snapshots --group-by --json`
// (restic's shape: group_key and snapshots; [] never null).
type snapshotGroupJSON struct {
	GroupKey  groupKeyJSON   `json:"group_key"`
	Snapshots []snapshotJSON `json:"snapshots"`
}

type groupKeyJSON struct {
	Host  string   `json:"host"`
	Paths []string `json:"paths"`
	Tags  []string `json:"tags"`
}

func toGroupKeyJSON(k maintenance.GroupKey) groupKeyJSON {
	j := groupKeyJSON{Host: k.Host, Paths: k.Paths, Tags: k.Tags}
	if j.Paths == nil {
		j.Paths = []string{}
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	return j
}

// groupTitle is how forget and snapshots name a group.
func groupTitle(k maintenance.GroupKey) string {
	var parts []string
	if k.Host != "" {
		parts = append(parts, "host "+k.Host)
	}
	if len(k.Paths) > 0 {
		parts = append(parts, "paths ["+strings.Join(k.Paths, ", ")+"]")
	}
	if len(k.Tags) > 0 {
		parts = append(parts, "tags ["+strings.Join(k.Tags, ", ")+"]")
	}
	if len(parts) == 0 {
		return "all snapshots"
	}
	return strings.Join(parts, ", ")
}

// groupSnapshots splits snaps (oldest first) by g and keeps the newest
// latest of each group (0: all), oldest first within a group.
func groupSnapshots(snaps []*repo.Snapshot, g maintenance.GroupBy, latest int) ([]maintenance.GroupKey, [][]*repo.Snapshot) {
	keys, groups := maintenance.Group(snaps, g)
	for i, l := range groups {
		if latest > 0 && len(l) > latest {
			groups[i] = l[len(l)-latest:]
		}
	}
	return keys, groups
}

// printSnapshotTable prints snapshots as `snapshots` does.
func printSnapshotTable(out []snapshotJSON) {
	tw := tabwriter.NewWriter(gopts.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTime\tHost\tTags\tSize\tPaths")
	for _, s := range out {
		size := ""
		if s.Summary != nil {
			size = humanize.IBytes(uint64(s.Summary.BytesProcessed))
		}
		tags := strings.Join(s.Tags, ",")
		if s.Partial {
			tags += " (partial)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ShortID, s.Time.Local().Format("2006-01-02 15:04:05"), s.Host, tags, size, strings.Join(s.Paths, ", "))
	}
	tw.Flush()
}

// printSnapshotGroups is `snapshots --group-by FIELDS [--latest N]`.
func printSnapshotGroups(sel []*repo.Snapshot, fields string, latest int) error {
	g, err := maintenance.ParseGroupBy(fields)
	if err != nil {
		return err
	}
	keys, groups := groupSnapshots(sel, g, latest)
	js := []snapshotGroupJSON{}
	for i, k := range keys {
		j := snapshotGroupJSON{GroupKey: toGroupKeyJSON(k), Snapshots: []snapshotJSON{}}
		for _, s := range groups[i] {
			j.Snapshots = append(j.Snapshots, toSnapshotJSON(s))
		}
		js = append(js, j)
	}
	if gopts.json {
		return gopts.printJSON(js)
	}
	n := 0
	for i, j := range js {
		if i > 0 {
			fmt.Fprintln(gopts.stdout)
		}
		fmt.Fprintf(gopts.stdout, "snapshots for (%s):\n", groupTitle(keys[i]))
		printSnapshotTable(j.Snapshots)
		n += len(j.Snapshots)
	}
	gopts.printf("%d snapshots in %d groups\n", n, len(js))
	return nil
}
