package maintenance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/repo"
)

// Duration is a calendar duration as used by --keep-within: years, months,
// days and hours ("1y6m", "14d", "36h"). docs/RETENTION.md.
type Duration struct {
	Years, Months, Days, Hours int
}

// ParseDuration parses "[Ny][Nm][Nd][Nh]" (in any order, each unit once at
// most, non-negative). Empty or all-zero durations are rejected.
func ParseDuration(s string) (Duration, error) {
	var d Duration
	orig := s
	if s == "" {
		return d, errors.New("empty duration")
	}
	seen := map[byte]bool{}
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) {
			return d, fmt.Errorf("invalid duration %q (use e.g. 1y2m3d4h)", orig)
		}
		n, err := strconv.Atoi(s[:i])
		if err != nil || n > 1_000_000 {
			return d, fmt.Errorf("invalid duration %q (number out of range)", orig)
		}
		u := s[i]
		if seen[u] {
			return d, fmt.Errorf("invalid duration %q (unit %c twice)", orig, u)
		}
		seen[u] = true
		switch u {
		case 'y':
			d.Years = n
		case 'm':
			d.Months = n
		case 'd':
			d.Days = n
		case 'h':
			d.Hours = n
		default:
			return d, fmt.Errorf("invalid duration %q (unknown unit %q; use y, m, d, h)", orig, u)
		}
		s = s[i+1:]
	}
	if d.Zero() {
		return d, fmt.Errorf("invalid duration %q (zero)", orig)
	}
	return d, nil
}

// Zero reports whether d is empty.
func (d Duration) Zero() bool { return d == Duration{} }

func (d Duration) String() string {
	var b strings.Builder
	for _, p := range []struct {
		n int
		u string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if p.n != 0 {
			fmt.Fprintf(&b, "%d%s", p.n, p.u)
		}
	}
	return b.String()
}

// before returns t minus d (calendar arithmetic in t's location).
func (d Duration) before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}

// Unlimited as a count keeps every bucket (restic's "unlimited", -1).
const Unlimited = -1

// Policy is a retention policy. Counts of 0 disable a rule.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Within                                       Duration
	WithinHourly, WithinDaily, WithinWeekly      Duration
	WithinMonthly, WithinYearly                  Duration
	// Tags: a snapshot carrying every tag of any one list is kept.
	Tags [][]string
	// Location for calendar buckets (hour, day, week, month, year);
	// nil: time.Local.
	Location *time.Location
}

// Empty reports whether p has no rule (forget then removes nothing).
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 && p.Yearly == 0 &&
		p.Within.Zero() && p.WithinHourly.Zero() && p.WithinDaily.Zero() && p.WithinWeekly.Zero() &&
		p.WithinMonthly.Zero() && p.WithinYearly.Zero() && len(p.Tags) == 0
}

// KeepDecision is the policy's verdict on one snapshot.
type KeepDecision struct {
	Snapshot *repo.Snapshot
	Keep     bool
	Reasons  []string // why it is kept (empty when removed)
}

type bucketFn func(t time.Time, nr int) int

func bucketLast(_ time.Time, nr int) int { return nr }
func bucketHour(t time.Time, _ int) int {
	return t.Year()*1_000_000 + int(t.Month())*10_000 + t.Day()*100 + t.Hour()
}
func bucketDay(t time.Time, _ int) int { return t.Year()*10_000 + int(t.Month())*100 + t.Day() }
func bucketWeek(t time.Time, _ int) int {
	y, w := t.ISOWeek()
	return y*100 + w
}
func bucketMonth(t time.Time, _ int) int { return t.Year()*100 + int(t.Month()) }
func bucketYear(t time.Time, _ int) int  { return t.Year() }

// SortNewestFirst orders snapshots newest first; equal times are ordered by
// ID, larger first, so ties are decided the same way on every run.
func SortNewestFirst(l []*repo.Snapshot) {
	sort.SliceStable(l, func(i, j int) bool {
		if !l[i].Time.Equal(l[j].Time) {
			return l[i].Time.After(l[j].Time)
		}
		return l[i].ID().Compare(l[j].ID()) > 0
	})
}

// ApplyPolicy decides, for one group of snapshots, which to keep and why,
// with restic's semantics (docs/RETENTION.md). The result is newest first.
func ApplyPolicy(group []*repo.Snapshot, p Policy) []KeepDecision {
	list := append([]*repo.Snapshot(nil), group...)
	SortNewestFirst(list)
	out := make([]KeepDecision, len(list))
	if len(list) == 0 {
		return out
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	type bucket struct {
		count  int
		fn     bucketFn
		last   int
		reason string
	}
	buckets := []*bucket{
		{p.Last, bucketLast, -1, "last snapshot"},
		{p.Hourly, bucketHour, -1, "hourly snapshot"},
		{p.Daily, bucketDay, -1, "daily snapshot"},
		{p.Weekly, bucketWeek, -1, "weekly snapshot"},
		{p.Monthly, bucketMonth, -1, "monthly snapshot"},
		{p.Yearly, bucketYear, -1, "yearly snapshot"},
	}
	type wbucket struct {
		within Duration
		fn     bucketFn
		last   int
		reason string
	}
	wbuckets := []*wbucket{
		{p.WithinHourly, bucketHour, -1, "hourly within"},
		{p.WithinDaily, bucketDay, -1, "daily within"},
		{p.WithinWeekly, bucketWeek, -1, "weekly within"},
		{p.WithinMonthly, bucketMonth, -1, "monthly within"},
		{p.WithinYearly, bucketYear, -1, "yearly within"},
	}
	latest := list[0].Time.In(loc)
	for nr, sn := range list {
		t := sn.Time.In(loc)
		d := KeepDecision{Snapshot: sn}
		for _, tags := range p.Tags {
			all := len(tags) > 0
			for _, tg := range tags {
				if !sn.HasTag(tg) {
					all = false
				}
			}
			if all {
				d.Reasons = append(d.Reasons, "has tags ["+strings.Join(tags, ", ")+"]")
			}
		}
		if !p.Within.Zero() && t.After(p.Within.before(latest)) {
			d.Reasons = append(d.Reasons, "within "+p.Within.String())
		}
		oldest := nr == len(list)-1
		for _, b := range buckets {
			if b.count == 0 {
				continue
			}
			v := b.fn(t, nr)
			if v != b.last {
				d.Reasons = append(d.Reasons, b.reason)
				b.last = v
				if b.count > 0 {
					b.count--
				}
			} else if oldest && b.count > 0 {
				// Counts left over: keep the oldest snapshot as well, so
				// the policy covers as much history as it asks for.
				d.Reasons = append(d.Reasons, "oldest "+b.reason)
				b.count--
			}
		}
		for _, b := range wbuckets {
			if b.within.Zero() || !t.After(b.within.before(latest)) {
				continue
			}
			v := b.fn(t, nr)
			if v != b.last {
				d.Reasons = append(d.Reasons, b.reason+" "+b.within.String())
				b.last = v
			} else if oldest {
				// The history is shorter than the window: keep its start.
				d.Reasons = append(d.Reasons, "oldest "+b.reason+" "+b.within.String())
			}
		}
		d.Keep = len(d.Reasons) > 0
		out[nr] = d
	}
	return out
}

// GroupKey describes one --group-by group.
type GroupKey struct {
	Host  string   `json:"host,omitempty"`
	Paths []string `json:"paths,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

// GroupBy selects the fields snapshots are grouped by.
type GroupBy struct{ Host, Paths, Tags bool }

// ParseGroupBy parses "host,paths,tags" (any subset; "" groups everything).
func ParseGroupBy(s string) (GroupBy, error) {
	var g GroupBy
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "":
		case "host":
			g.Host = true
		case "paths", "path":
			g.Paths = true
		case "tags", "tag":
			g.Tags = true
		default:
			return g, fmt.Errorf("unknown --group-by field %q (use host, paths, tags)", f)
		}
	}
	return g, nil
}

// Group splits snapshots by g, in a stable order of their keys.
func Group(snaps []*repo.Snapshot, g GroupBy) ([]GroupKey, [][]*repo.Snapshot) {
	idx := map[string]int{}
	var keys []GroupKey
	var groups [][]*repo.Snapshot
	for _, sn := range snaps {
		var k GroupKey
		if g.Host {
			k.Host = sn.Host
		}
		if g.Paths {
			k.Paths = append([]string(nil), sn.Paths...)
			sort.Strings(k.Paths)
		}
		if g.Tags {
			k.Tags = append([]string(nil), sn.Tags...)
			sort.Strings(k.Tags)
		}
		ks := k.Host + "\x00" + strings.Join(k.Paths, "\x01") + "\x00" + strings.Join(k.Tags, "\x01")
		i, ok := idx[ks]
		if !ok {
			i = len(keys)
			idx[ks] = i
			keys = append(keys, k)
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], sn)
	}
	return keys, groups
}

// ForgetGroup is the outcome for one group.
type ForgetGroup struct {
	Key       GroupKey       `json:"group"`
	Decisions []KeepDecision `json:"-"`
}

// Forget applies p to the snapshots passing filter, grouped by g. Unless
// dryRun, snapshots the policy does not keep are removed. An empty policy
// removes nothing.
func Forget(ctx context.Context, r *repo.Repository, filter repo.SnapshotFilter, g GroupBy, p Policy, dryRun bool) ([]ForgetGroup, error) {
	all, err := r.Snapshots(ctx, nil)
	if err != nil {
		return nil, err
	}
	var sel []*repo.Snapshot
	for _, sn := range all {
		if filter.Match(sn) {
			sel = append(sel, sn)
		}
	}
	keys, groups := Group(sel, g)
	var out []ForgetGroup
	var remove []*repo.Snapshot
	for i := range keys {
		var ds []KeepDecision
		if p.Empty() {
			l := append([]*repo.Snapshot(nil), groups[i]...)
			SortNewestFirst(l)
			for _, sn := range l {
				ds = append(ds, KeepDecision{Snapshot: sn, Keep: true, Reasons: []string{"no policy"}})
			}
		} else {
			ds = ApplyPolicy(groups[i], p)
		}
		for _, d := range ds {
			if !d.Keep {
				remove = append(remove, d.Snapshot)
			}
		}
		out = append(out, ForgetGroup{Key: keys[i], Decisions: ds})
	}
	if !dryRun {
		if err := r.RemoveSnapshots(ctx, remove); err != nil {
			return out, err
		}
	}
	return out, nil
}
