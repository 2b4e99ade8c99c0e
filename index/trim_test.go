package index

import (
	"context"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/pack"
)

// Releasing the mapped table pages while the cache is used (every
// millisecond here) must never change what it returns.
func TestTrimKeepsDataIntact(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := OpenCache(dir, &Options{TrimInterval: time.Millisecond, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var all []pack.Entry
	for p := range 200 {
		var entries []pack.Entry
		for j := range 500 {
			var id ID
			id[0], id[1], id[2] = byte(p), byte(p>>8), byte(j)
			id[3] = byte(j >> 8)
			entries = append(entries, pack.Entry{BlobHandle: pack.BlobHandle{ID: id, Type: pack.DataBlob}, Offset: uint32(j), Length: 40, RawLength: uint32(p)})
		}
		if err := c.StorePack(ctx, ID{byte(p), 1}, entries); err != nil {
			t.Fatal(err)
		}
		all = append(all, entries...)
	}
	if n := trimMappings(dir); n < 0 {
		t.Fatal("negative")
	}
	check := func(c *Cache) {
		for i, e := range all {
			l, ok, err := c.Lookup(ctx, e.BlobHandle)
			if err != nil || !ok || l.Offset != e.Offset || l.RawLength != e.RawLength {
				t.Fatalf("entry %d: %+v %v %v", i, l, ok, err)
			}
		}
	}
	check(c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = OpenCache(dir, &Options{TrimInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check(c)
}
