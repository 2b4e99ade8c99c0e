package repo

import (
	"context"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

// An index sync interrupted by a signal takes the prefetcher's results
// filled in after the context ended, and frees a window slot for each: that
// must not wait for a slot those results never took. It did, and a copy
// given SIGTERM while it synced the index hung (TestSignalCampaign).
func TestPrefetchIndexFilesCancelledDoesNotBlock(t *testing.T) {
	r := &Repository{be: mem.New()}
	window := max(1, min(16, r.be.Properties().Connections))
	ids := make([]ID, 4*window+3) // more than the window: some results come from the cancelled path
	for i := range ids {
		ids[i][0], ids[i][1] = byte(i), byte(i>>8)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, took := r.prefetchIndexFiles(ctx, ids, nil)
	finished := make(chan int, 1)
	go func() {
		n := 0
		for _, ch := range out {
			if res := <-ch; res.err != nil {
				n++
			}
			took()
		}
		finished <- n
	}()
	select {
	case n := <-finished:
		if n != len(ids) {
			t.Errorf("%d of %d results carry an error after the context ended", n, len(ids))
		}
	case <-time.After(2 * time.Minute): // a deadlock is permanent; the bound is only for the report
		t.Fatal("the consumer blocked freeing a window slot after the context ended")
	}
}
