package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// Snapshot records one backup. JSON field names are part of the format.
type Snapshot struct {
	Time     time.Time `json:"time"`
	Host     string    `json:"host"`
	Username string    `json:"username,omitempty"`
	UID      uint32    `json:"uid"`
	GID      uint32    `json:"gid"`
	Tags     []string  `json:"tags,omitempty"`
	Paths    []string  `json:"paths"`
	Tree     ID        `json:"tree"`
	Parent   *ID       `json:"parent,omitempty"`
	// Partial is true when some files could not be read.
	Partial bool     `json:"partial,omitempty"`
	Summary *Summary `json:"summary,omitempty"`
	// Metadata is free-form typed data for higher layers: each key names a
	// type (e.g. "immich") whose value that layer defines and versions.
	Metadata       map[string]json.RawMessage `json:"metadata,omitempty"`
	ProgramVersion string                     `json:"program_version,omitempty"`

	id ID // file name; not serialized
}

// Summary describes what a backup did.
type Summary struct {
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	FilesNew        int64     `json:"files_new"`
	FilesChanged    int64     `json:"files_changed"`
	FilesUnmodified int64     `json:"files_unmodified"`
	Dirs            int64     `json:"dirs"`
	Errors          int64     `json:"errors"`
	BytesProcessed  int64     `json:"bytes_processed"`   // total size of files in the snapshot
	BytesRead       int64     `json:"bytes_read"`        // bytes actually read from disk
	DataBlobs       int64     `json:"data_blobs"`        // new data blobs stored
	TreeBlobs       int64     `json:"tree_blobs"`        // new tree blobs stored
	DataAdded       int64     `json:"data_added"`        // plaintext bytes of new data blobs
	DataAddedPacked int64     `json:"data_added_packed"` // bytes added to packs (data and trees, compressed and encrypted)
}

// ID returns the snapshot's ID (the hash of its stored file).
func (s *Snapshot) ID() ID { return s.id }

// SetID sets the ID of a snapshot built in memory (SaveSnapshot and
// LoadSnapshot set it otherwise), e.g. to test retention policies above
// the engine without a repository.
func (s *Snapshot) SetID(id ID) { s.id = id }

// HasTag reports whether s has tag t.
func (s *Snapshot) HasTag(t string) bool {
	for _, x := range s.Tags {
		if x == t {
			return true
		}
	}
	return false
}

// SaveSnapshot stores s; call it only after WithUploader returned nil, so
// everything s references is durable (write order: packs, index, snapshot).
func (r *Repository) SaveSnapshot(ctx context.Context, s *Snapshot) (ID, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return ID{}, err
	}
	id, err := r.saveHashed(ctx, backend.SnapshotFile, b)
	if err != nil {
		return id, fmt.Errorf("save snapshot: %w", err)
	}
	s.id = id
	return id, nil
}

// DecodeSnapshot parses a snapshot's plaintext.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w: %w", err, ErrCorrupt)
	}
	if s.Tree.IsNull() {
		return nil, fmt.Errorf("snapshot has no tree: %w", ErrCorrupt)
	}
	return &s, nil
}

// LoadSnapshot loads one snapshot by full ID.
func (r *Repository) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	h := backend.Handle{Type: backend.SnapshotFile, Name: id.String()}
	var b []byte
	var err error
	if stored, ok := r.earlySnaps.stored(id); ok { // fetched during Open
		b, err = r.openStored(h, stored)
	} else {
		b, err = r.loadSealed(ctx, h)
	}
	if err != nil {
		return nil, fmt.Errorf("load snapshot %s: %w", id.Short(), err)
	}
	s, err := DecodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", id.Short(), err)
	}
	s.id = id
	return s, nil
}

// SnapshotIDs lists the IDs of all snapshots.
func (r *Repository) SnapshotIDs(ctx context.Context) ([]ID, error) {
	if ids, _, ok, err := r.earlySnaps.listing(); ok && err == nil { // fetched during Open
		return ids, nil
	}
	return listSnapshotIDs(ctx, r.be)
}

// Snapshots loads every snapshot, oldest first. A snapshot that cannot be
// loaded is reported through onErr (if non-nil) and skipped.
func (r *Repository) Snapshots(ctx context.Context, onErr func(ID, error)) ([]*Snapshot, error) {
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	// Loaded concurrently by a bounded set of workers, the backend's
	// connections at a time (on S3 each file is a round trip: issue 14);
	// results and errors are taken in listing order as before. The number
	// of goroutines does not grow with the number of snapshots.
	type loaded struct {
		s   *Snapshot
		err error
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make([]loaded, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(ids), max(1, min(32, r.be.Properties().Connections))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				if err := lctx.Err(); err != nil {
					res[i] = loaded{nil, err}
					continue
				}
				s, err := r.LoadSnapshot(lctx, ids[i])
				res[i] = loaded{s, err}
				if err != nil && onErr == nil {
					cancel() // the first error ends the listing: stop loading the rest
				}
			}
		}()
	}
	wg.Wait()
	if onErr == nil {
		// The error to report is the first in listing order that is not
		// a consequence of the cancel above.
		for _, l := range res {
			if l.err != nil && !(errors.Is(l.err, context.Canceled) && ctx.Err() == nil) {
				return nil, l.err
			}
		}
	}
	var out []*Snapshot
	for i, id := range ids {
		s, err := res[i].s, res[i].err
		if err != nil {
			if onErr != nil {
				onErr(id, err)
				continue
			}
			return nil, err
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].id.Compare(out[j].id) < 0
	})
	return out, nil
}

// SnapshotFilter selects snapshots by host, tags and paths (empty: any).
type SnapshotFilter struct {
	Hosts []string
	Tags  []string // a snapshot must carry all of them
	Paths []string // a snapshot must contain all of them
}

// Match reports whether s passes f.
func (f SnapshotFilter) Match(s *Snapshot) bool {
	if len(f.Hosts) > 0 && !contains(f.Hosts, s.Host) {
		return false
	}
	for _, t := range f.Tags {
		if !s.HasTag(t) {
			return false
		}
	}
	for _, p := range f.Paths {
		if !contains(s.Paths, p) {
			return false
		}
	}
	return true
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// FindSnapshot resolves "latest" (newest snapshot passing f) or a unique
// hex ID prefix.
func (r *Repository) FindSnapshot(ctx context.Context, ref string, f SnapshotFilter) (*Snapshot, error) {
	if ref == "latest" {
		all, err := r.Snapshots(ctx, func(ID, error) {})
		if err != nil {
			return nil, err
		}
		for i := len(all) - 1; i >= 0; i-- {
			if f.Match(all[i]) {
				return all[i], nil
			}
		}
		return nil, fmt.Errorf("latest: %w", ErrSnapshotNotFound)
	}
	ref = strings.ToLower(ref)
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	var match []ID
	for _, id := range ids {
		if strings.HasPrefix(id.String(), ref) {
			match = append(match, id)
		}
	}
	switch {
	case ref == "" || len(match) == 0:
		return nil, fmt.Errorf("%q: %w", ref, ErrSnapshotNotFound)
	case len(match) > 1:
		return nil, fmt.Errorf("%q matches %d snapshots: %w", ref, len(match), ErrAmbiguousSnapshot)
	}
	return r.LoadSnapshot(ctx, match[0])
}

// RemoveSnapshots deletes the given snapshots' files. A snapshot already
// gone counts as removed. Blobs are freed by a later prune.
func (r *Repository) RemoveSnapshots(ctx context.Context, snaps []*Snapshot) error {
	r.earlySnaps.drop() // a later listing must not show them
	for _, sn := range snaps {
		err := r.be.Remove(backend.MissingOK(ctx), backend.Handle{Type: backend.SnapshotFile, Name: sn.id.String()})
		if err != nil && !errors.Is(err, backend.ErrNotFound) {
			return fmt.Errorf("remove snapshot %s: %w", sn.id.Short(), err)
		}
	}
	return nil
}
