package repo

import (
	"context"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// earlySnapshotFiles bounds the snapshot files Open fetches before it
// knows the key (a few hundred bytes each); earlySnapshotsFresh is how
// long after it was taken the listing may stand in for a new one (a
// server or daemon that lists hours after opening lists anew).
const (
	earlySnapshotFiles  = 64
	earlySnapshotsFresh = 30 * time.Second
)

// earlySnapshots is the snapshot listing and the first snapshot files'
// stored bytes, fetched while Open derives the key: nearly every command
// lists the snapshots right after opening (latest, a parent, a policy),
// and on S3 the listing and the loads are two round trips one after the
// other that can run meanwhile (issue 14). Nothing is trusted before the
// key opens it: LoadSnapshot checks the bytes against their name and
// authenticates them as if it had loaded them then. The listing is used
// once, by the first SnapshotIDs of the open, within
// earlySnapshotsFresh, and only while this Repository has neither saved
// nor removed a snapshot (then it lists anew); a listing taken a moment
// earlier is what the same command saw before, when it listed right
// after opening, before taking its lock.
type earlySnapshots struct {
	done chan struct{}
	ids  []ID
	err  error
	at   time.Time // when the listing was complete

	mu   sync.Mutex
	used bool               // the listing was handed out or dropped
	raw  map[ID]chan []byte // closed empty when the load failed
}

// startEarlySnapshots lists the snapshots of be and loads the first ones,
// in the background, until ctx ends.
func startEarlySnapshots(ctx context.Context, be backend.Backend) *earlySnapshots {
	e := &earlySnapshots{done: make(chan struct{}), raw: map[ID]chan []byte{}}
	go func() {
		var ids []ID
		err := be.List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error {
			if id, err := crypto.ParseID(fi.Name); err == nil {
				ids = append(ids, id)
			}
			return nil
		})
		first := ids[:min(len(ids), earlySnapshotFiles)]
		if err != nil {
			first = nil
		}
		chans := make([]chan []byte, len(first))
		e.mu.Lock()
		for i, id := range first {
			chans[i] = make(chan []byte, 1)
			e.raw[id] = chans[i]
		}
		e.mu.Unlock()
		e.ids, e.err, e.at = ids, err, time.Now()
		close(e.done)
		sem := make(chan struct{}, max(1, min(32, be.Properties().Connections)))
		for i, id := range first {
			ch := chans[i]
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				close(ch)
				continue
			}
			go func() {
				defer func() { <-sem }()
				b, err := loadBounded(ctx, be, backend.Handle{Type: backend.SnapshotFile, Name: id.String()})
				if err == nil {
					ch <- b
				}
				close(ch)
			}()
		}
	}()
	return e
}

// listing returns the listing once (false: list anew).
func (e *earlySnapshots) listing() ([]ID, bool, error) {
	if e == nil {
		return nil, false, nil
	}
	e.mu.Lock()
	used := e.used
	e.used = true
	e.mu.Unlock()
	if used {
		return nil, false, nil
	}
	<-e.done
	if time.Since(e.at) > earlySnapshotsFresh {
		return nil, false, nil
	}
	return e.ids, true, e.err
}

// drop makes the listing unusable (this Repository changed the snapshots).
func (e *earlySnapshots) drop() {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.used = true
	e.mu.Unlock()
}

// stored returns (once) the stored bytes of snapshot file id if Open
// fetched them, waiting for a load in flight; false: load it anew.
func (e *earlySnapshots) stored(id ID) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	<-e.done
	e.mu.Lock()
	ch, ok := e.raw[id]
	delete(e.raw, id)
	e.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, ok := <-ch
	return b, ok
}
