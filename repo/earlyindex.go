package repo

import (
	"context"
	"sync"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// earlyIndexFiles and earlyIndexBytes bound what Open fetches of the index
// files before it knows the key: the stored bytes of at most this many
// files, this many bytes in all (the rest load after, a window at a time).
const (
	earlyIndexFiles = 16
	earlyIndexBytes = 64 << 20
)

// earlyIndex is the index listing and the first index files' stored
// (sealed) bytes, fetched while Open looks for the key: the key derivation
// takes a good part of a second, and on S3 the listing and the loads are
// round trips that can run meanwhile (issue 14). Nothing is trusted
// before the key opens it: the bytes are checked against their name and
// authenticated by decodeIndexFile as if they had been loaded then.
type earlyIndex struct {
	done  chan struct{}
	ids   []ID
	total int64
	err   error

	mu  sync.Mutex
	raw map[ID]chan []byte // closed empty when the load failed
}

// startEarlyIndex lists the index files of be and loads the first ones,
// in the background.
func startEarlyIndex(ctx context.Context, be backend.Backend) *earlyIndex {
	e := &earlyIndex{done: make(chan struct{}), raw: map[ID]chan []byte{}}
	go func() {
		r := &Repository{be: be}
		ids, total, err := r.listIndexFiles(ctx, nil)
		var first []ID
		if err == nil && total <= earlyIndexBytes {
			first = ids[:min(len(ids), earlyIndexFiles)]
		}
		// Registered before the listing is handed out, so that the sync
		// waits for these loads instead of sending the same requests.
		chans := make([]chan []byte, len(first))
		for i, id := range first {
			chans[i] = make(chan []byte, 1)
			e.raw[id] = chans[i]
		}
		e.ids, e.total, e.err = ids, total, err
		close(e.done)
		sem := make(chan struct{}, max(1, min(earlyIndexFiles, be.Properties().Connections)))
		for i, id := range first {
			ch := chans[i]
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				b, err := loadBounded(ctx, be, backend.Handle{Type: backend.IndexFile, Name: id.String()})
				if err == nil {
					ch <- b
				}
				close(ch)
			}()
		}
	}()
	return e
}

// listing waits for the listing and returns it.
func (e *earlyIndex) listing() ([]ID, int64, error) {
	<-e.done
	return e.ids, e.total, e.err
}

// stored returns (once) the stored bytes of index file id if Open
// fetched them, waiting for a load in flight; false: load it anew (not
// fetched early, or the early load failed: the new load reports why).
func (e *earlyIndex) stored(id ID) ([]byte, bool) {
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
