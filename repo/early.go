package repo

import (
	"context"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// earlyFiles is the listing of one file type and the first listed files'
// stored (sealed) bytes, fetched in the background while Open derives the
// key: the key derivation takes a good part of a second, and on S3 the
// listing and the loads are round trips that can run meanwhile (issue 14).
// Nothing is trusted before the key opens it: the caller checks the bytes
// against their name and authenticates them as if it had loaded them then.
// The index files (earlyindex.go) and the snapshots (earlysnap.go) are
// fetched this way.
type earlyFiles struct {
	fresh time.Duration // how long the listing may be used after it was taken (0: no bound)

	done  chan struct{}
	ids   []ID
	total int64 // the listed files' size
	err   error
	at    time.Time // when the listing was complete

	mu   sync.Mutex
	used bool               // the listing was handed out or dropped
	raw  map[ID]chan []byte // closed empty when the load failed
}

// earlyPlan says what startEarly lists and how much of it it loads.
type earlyPlan struct {
	typ backend.FileType
	// list lists the files of typ in be: their IDs, in the order the
	// listing is handed out, and their total size.
	list func(ctx context.Context, be backend.Backend) ([]ID, int64, error)
	// maxFiles is how many of the first files are loaded; none when the
	// listed files total more than maxBytes (0: no bound).
	maxFiles int
	maxBytes int64
	// loads is how many loads run at once (at most the backend's
	// connections).
	loads int
	// fresh: see earlyFiles.fresh.
	fresh time.Duration
}

// startEarly lists the files of p.typ in be and loads the first ones, in
// the background, until ctx ends.
func startEarly(ctx context.Context, be backend.Backend, p earlyPlan) *earlyFiles {
	e := &earlyFiles{fresh: p.fresh, done: make(chan struct{}), raw: map[ID]chan []byte{}}
	go func() {
		ids, total, err := p.list(ctx, be)
		var first []ID
		if err == nil && (p.maxBytes == 0 || total <= p.maxBytes) {
			first = ids[:min(len(ids), p.maxFiles)]
		}
		// Registered before the listing is handed out, so that a caller
		// waits for these loads instead of sending the same requests.
		chans := make([]chan []byte, len(first))
		e.mu.Lock()
		for i, id := range first {
			chans[i] = make(chan []byte, 1)
			e.raw[id] = chans[i]
		}
		e.mu.Unlock()
		e.ids, e.total, e.err, e.at = ids, total, err, time.Now()
		close(e.done)
		sem := make(chan struct{}, max(1, min(p.loads, be.Properties().Connections)))
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
				b, err := loadBounded(ctx, be, backend.Handle{Type: p.typ, Name: id.String()})
				if err == nil {
					ch <- b
				}
				close(ch)
			}()
		}
	}()
	return e
}

// listing returns the listing (IDs, total size, error) once, waiting for
// it; false: list anew (none was taken, it was handed out or dropped
// before, or it is older than e.fresh).
func (e *earlyFiles) listing() ([]ID, int64, bool, error) {
	if e == nil {
		return nil, 0, false, nil
	}
	e.mu.Lock()
	used := e.used
	e.used = true
	e.mu.Unlock()
	if used {
		return nil, 0, false, nil
	}
	<-e.done
	if e.fresh > 0 && time.Since(e.at) > e.fresh {
		return nil, 0, false, nil
	}
	return e.ids, e.total, true, e.err
}

// drop makes the listing unusable (this Repository changed the files, or
// took a lock under which a listing must be taken anew). The stored bytes
// stay usable: a file's bytes are checked against its name.
func (e *earlyFiles) drop() {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.used = true
	e.mu.Unlock()
}

// stored returns (once) the stored bytes of file id if Open fetched them,
// waiting for a load in flight; false: load it anew (not fetched early, or
// the early load failed: the new load reports why).
func (e *earlyFiles) stored(id ID) ([]byte, bool) {
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
