package index

import (
	"context"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
)

// HasMany answers as Has does for each handle: committed, pending, absent,
// duplicates, in any order; and with batches walked or got.
func TestHasManyMatchesHas(t *testing.T) {
	for _, mode := range []int{-1, 1} {
		func() {
			defer func(m int) { batchMode = m }(batchMode)
			batchMode = mode
			ctx := context.Background()
			c, err := OpenCache("", &Options{InMemory: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			h := func(i byte, ty pack.BlobType) pack.BlobHandle { return pack.BlobHandle{ID: ID{i, 7}, Type: ty} }
			stored := []pack.Entry{{BlobHandle: h(1, pack.DataBlob)}, {BlobHandle: h(3, pack.TreeBlob)}, {BlobHandle: h(200, pack.DataBlob)}}
			if err := c.StorePack(ctx, ID{9}, stored); err != nil {
				t.Fatal(err)
			}
			if ok, err := c.AddPending(ctx, h(5, pack.DataBlob)); err != nil || !ok {
				t.Fatal(ok, err)
			}
			hs := []pack.BlobHandle{h(200, pack.DataBlob), h(2, pack.DataBlob), h(5, pack.DataBlob), h(1, pack.DataBlob),
				h(3, pack.DataBlob), h(3, pack.TreeBlob), h(1, pack.DataBlob), h(5, pack.TreeBlob)}
			got, err := c.HasMany(ctx, hs)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range hs {
				want, err := c.Has(ctx, x)
				if err != nil {
					t.Fatal(err)
				}
				if got[i] != want {
					t.Fatalf("mode %d: HasMany[%d] (%v) = %v, Has = %v", mode, i, x, got[i], want)
				}
			}
			if got, err := c.HasMany(ctx, nil); err != nil || len(got) != 0 {
				t.Fatalf("HasMany(nil): %v %v", got, err)
			}
		}()
	}
}

// ClaimPending claims a handle once, whatever the database holds; Has
// then sees it pending until ForgetPending.
func TestClaimPending(t *testing.T) {
	ctx := context.Background()
	c, err := OpenCache("", &Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := pack.BlobHandle{ID: ID{4}, Type: pack.DataBlob}
	if ok, err := c.ClaimPending(ctx, h); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := c.ClaimPending(ctx, h); err != nil || ok {
		t.Fatalf("second claim: %v %v", ok, err)
	}
	if ok, err := c.AddPending(ctx, h); err != nil || ok {
		t.Fatalf("AddPending of a claimed handle: %v %v", ok, err)
	}
	if has, _ := c.Has(ctx, h); !has {
		t.Fatal("a claimed handle is not reported by Has")
	}
	c.ForgetPending(h)
	if has, _ := c.Has(ctx, h); has {
		t.Fatal("a forgotten handle is still reported by Has")
	}
}
