package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
)

// findOptions are find's restic-like selections beyond the pattern.
type findOptions struct {
	snapshots      []string // IDs or "latest" (filtered by --host/--tag/--path)
	newest, oldest string
	newestT        time.Time
	oldestT        time.Time
}

func (o *findOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&o.snapshots, "snapshot", "s", nil, "search only `snapshot` (an ID or \"latest\", the newest passing --host/--tag/--path; repeatable)")
	cmd.Flags().StringVar(&o.newest, "newest", "", "only files modified at or before `time` (2006-01-02, \"2006-01-02 15:04:05\" local time, or RFC 3339)")
	cmd.Flags().StringVar(&o.oldest, "oldest", "", "only files modified at or after `time` (same forms as --newest)")
}

// parse checks the time bounds.
func (o *findOptions) parse() error {
	var err error
	if o.newestT, err = parseFindTime(o.newest, true); err != nil {
		return fmt.Errorf("--newest: %w", err)
	}
	if o.oldestT, err = parseFindTime(o.oldest, false); err != nil {
		return fmt.Errorf("--oldest: %w", err)
	}
	if !o.newestT.IsZero() && !o.oldestT.IsZero() && o.newestT.Before(o.oldestT) {
		return fmt.Errorf("--newest %s is before --oldest %s: no file can match", o.newest, o.oldest)
	}
	return nil
}

// parseFindTime parses s; a bare date as a --newest bound means the end of
// that day.
func parseFindTime(s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		if endOfDay {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want 2006-01-02, \"2006-01-02 15:04:05\" or RFC 3339 (2006-01-02T15:04:05Z)", s)
}

// matchTime reports whether a file modified at m is within the bounds.
func (o *findOptions) matchTime(m time.Time) bool {
	if !o.newestT.IsZero() && m.After(o.newestT) {
		return false
	}
	if !o.oldestT.IsZero() && m.Before(o.oldestT) {
		return false
	}
	return true
}

// selectSnapshots returns the snapshots find searches: those named by
// --snapshot, else every snapshot passing f.
func (o *findOptions) selectSnapshots(ctx context.Context, r *repo.Repository, all []*repo.Snapshot, f repo.SnapshotFilter) ([]*repo.Snapshot, error) {
	if len(o.snapshots) == 0 {
		var out []*repo.Snapshot
		for _, s := range all {
			if f.Match(s) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	var out []*repo.Snapshot
	seen := map[repo.ID]bool{}
	for _, ref := range o.snapshots {
		s, err := r.FindSnapshot(ctx, ref, f)
		if err != nil {
			return nil, err
		}
		if !seen[s.ID()] {
			seen[s.ID()] = true
			out = append(out, s)
		}
	}
	return out, nil
}
