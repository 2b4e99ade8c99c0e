package repo

import (
	"context"
	"fmt"
)

// TagChange says how Tag changes snapshots' tags: with SetGiven the tags
// become Set (empty: none); then Add are added and Remove removed.
type TagChange struct {
	Set      []string
	SetGiven bool
	Add      []string
	Remove   []string
}

// apply returns tags after c (order kept, no duplicates) and whether they
// differ from tags.
func (c TagChange) apply(tags []string) ([]string, bool) {
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	base := tags
	if c.SetGiven {
		base = c.Set
	}
	for _, t := range base {
		add(t)
	}
	for _, t := range c.Add {
		add(t)
	}
	if len(c.Remove) > 0 {
		rm := map[string]bool{}
		for _, t := range c.Remove {
			rm[t] = true
		}
		kept := out[:0]
		for _, t := range out {
			if !rm[t] {
				kept = append(kept, t)
			}
		}
		out = kept
	}
	if len(out) != len(tags) {
		return out, true
	}
	for i := range out {
		if out[i] != tags[i] {
			return out, true
		}
	}
	return out, false
}

// Retagged is one snapshot Tag rewrote.
type Retagged struct {
	Old, New ID
	Tags     []string
}

// Tag changes the tags of snaps by c. A snapshot file is immutable (its
// name is its hash), so each snapshot whose tags change is stored again
// with the new tags and then its old file is removed: at every instant at
// least one of the two exists, and an interruption between the two steps
// leaves both (the same tree, one with each set of tags) rather than
// neither. Everything else in the snapshot is kept as it was. It runs under
// a shared lock, so no prune (exclusive) runs meanwhile; snapshots whose
// tags do not change are not touched. done, if not nil, is called after
// each rewrite.
func (r *Repository) Tag(ctx context.Context, snaps []*Snapshot, c TagChange, done func(Retagged)) ([]Retagged, error) {
	lk, err := r.Lock(ctx, LockOptions{Purpose: "tag"})
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	ctx = lk.Context()
	var out []Retagged
	for _, s := range snaps {
		tags, changed := c.apply(s.Tags)
		if !changed {
			continue
		}
		n := *s
		n.Tags = tags
		id, err := r.SaveSnapshot(ctx, &n)
		if err != nil {
			return out, fmt.Errorf("tag snapshot %s: %w", s.id.Short(), err)
		}
		if id != s.id {
			if err := r.RemoveSnapshots(ctx, []*Snapshot{s}); err != nil {
				return out, fmt.Errorf("tag snapshot %s: stored as %s, but the old file stays: %w", s.id.Short(), id.Short(), err)
			}
		}
		rt := Retagged{Old: s.id, New: id, Tags: tags}
		out = append(out, rt)
		if done != nil {
			done(rt)
		}
	}
	return out, nil
}
