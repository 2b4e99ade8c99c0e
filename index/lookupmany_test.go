package index

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

// checkLookupMany compares LookupMany and HasAll with Lookup and Has for
// hs, in both batch modes (walked with an iterator, point gets).
func checkLookupMany(t *testing.T, c *Cache, hs []pack.BlobHandle) {
	t.Helper()
	ctx := context.Background()
	defer func(m int) { batchMode = m }(batchMode)
	for _, mode := range []int{1, -1, 0} {
		batchMode = mode
		locs, found, err := c.LookupMany(ctx, hs)
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		if len(locs) != len(hs) || len(found) != len(hs) {
			t.Fatalf("mode %d: %d locations, %d found flags for %d handles", mode, len(locs), len(found), len(hs))
		}
		all := true
		for i, h := range hs {
			l, ok := lookup(t, c, h)
			if found[i] != ok || (ok && locs[i] != l) {
				t.Fatalf("mode %d: handle %d %v: LookupMany %v %+v, Lookup %v %+v", mode, i, h, found[i], locs[i], ok, l)
			}
			has, err := c.Has(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			all = all && has
		}
		got, err := c.HasAll(ctx, hs)
		if err != nil || got != all {
			t.Fatalf("mode %d: HasAll = %v, %v; want %v", mode, got, err, all)
		}
	}
}

func TestCacheLookupMany(t *testing.T) {
	ctx := context.Background()
	for _, onDisk := range []bool{false, true} {
		var c *Cache
		if onDisk {
			dir := t.TempDir()
			c = openDir(t, dir)
			// Reopened below: the entries then come from tables.
		} else {
			c = openMem(t)
		}
		r := mrand.New(mrand.NewPCG(5, 6))
		var stored []pack.Entry
		for range 20 {
			es := makeEntries(r, 200)
			if err := c.StorePack(ctx, randID(r), es); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, es...)
		}
		// Some blobs stored again in a later pack: the newest location.
		again := append([]pack.Entry(nil), stored[:50]...)
		if err := c.StorePack(ctx, randID(r), again); err != nil {
			t.Fatal(err)
		}
		// An index file merged.
		f := &File{Packs: []PackBlobs{{Pack: randID(r), Entries: makeEntries(r, 300)}}}
		if err := c.MergeIndexFile(ctx, randID(r), f); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, f.Packs[0].Entries...)
		if onDisk {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c = openDir(t, c.dir)
			t.Cleanup(func() { c.Close() })
		}

		// Present blobs in random order with absent ones among them:
		// random IDs, and stored IDs under the other blob type.
		var hs []pack.BlobHandle
		for i := range 2000 {
			e := stored[r.IntN(len(stored))]
			switch i % 10 {
			case 3:
				hs = append(hs, pack.BlobHandle{ID: randID(r), Type: pack.DataBlob})
			case 7:
				h := e.BlobHandle
				h.Type = pack.DataBlob + pack.TreeBlob - h.Type
				hs = append(hs, h)
			default:
				hs = append(hs, e.BlobHandle)
			}
		}
		checkLookupMany(t, c, hs)
		// Every stored blob, with duplicates: all present.
		all := make([]pack.BlobHandle, 0, len(stored)+10)
		for _, e := range stored {
			all = append(all, e.BlobHandle)
		}
		all = append(all, all[:10]...)
		checkLookupMany(t, c, all)
		// One absent among present ones, at the start, middle and end
		// of the key order.
		for _, pos := range []int{0, 5, 10} {
			few := append([]pack.BlobHandle(nil), all[:10]...)
			few = append(few[:pos], append([]pack.BlobHandle{{ID: ID{0xff, byte(pos)}, Type: pack.DataBlob}}, few[pos:]...)...)
			few = append(few, pack.BlobHandle{ID: ID{}, Type: pack.DataBlob})
			checkLookupMany(t, c, few)
		}
		checkLookupMany(t, c, all[:1])
		checkLookupMany(t, c, nil)
	}
}

// HasAll counts pending blobs as present, like Has; a blob stops being
// pending once stored (StorePack) or forgotten (ForgetPending).
func TestCacheHasAllPending(t *testing.T) {
	ctx := context.Background()
	c := openMem(t)
	r := mrand.New(mrand.NewPCG(7, 8))
	es := makeEntries(r, 3)
	if err := c.StorePack(ctx, randID(r), es[:1]); err != nil {
		t.Fatal(err)
	}
	hs := []pack.BlobHandle{es[0].BlobHandle, es[1].BlobHandle, es[2].BlobHandle}
	want := func(want bool) {
		t.Helper()
		for _, mode := range []int{1, -1} {
			batchMode = mode
			got, err := c.HasAll(ctx, hs)
			batchMode = 0
			if err != nil || got != want {
				t.Fatalf("mode %d: HasAll = %v, %v; want %v", mode, got, err, want)
			}
		}
	}
	want(false)
	for _, e := range es[1:] {
		if ok, err := c.AddPending(ctx, e.BlobHandle); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	want(true)
	c.ForgetPending(es[2].BlobHandle)
	want(false)
	if ok, err := c.AddPending(ctx, es[2].BlobHandle); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := c.StorePack(ctx, randID(r), es[1:]); err != nil {
		t.Fatal(err)
	}
	if n := c.PendingCount(); n != 0 {
		t.Fatalf("%d pending after StorePack", n)
	}
	want(true)
	checkLookupMany(t, c, hs)
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	want(false)
	checkLookupMany(t, c, hs)
}

func TestCacheLookupManyCancelled(t *testing.T) {
	c := openMem(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hs := []pack.BlobHandle{{Type: pack.DataBlob}, {Type: pack.TreeBlob}}
	if _, _, err := c.LookupMany(ctx, hs); !errors.Is(err, context.Canceled) {
		t.Fatalf("LookupMany: %v, want context.Canceled", err)
	}
	if _, err := c.HasAll(ctx, hs); !errors.Is(err, context.Canceled) {
		t.Fatalf("HasAll: %v, want context.Canceled", err)
	}
}
