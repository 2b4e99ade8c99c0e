package immich

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The restore test loads a dump into a scratch database on the real test
// PostgreSQL and compares per-table row counts: a complete dump passes; a
// dump truncated on purpose inside the asset table's COPY data fails and
// names the table; the scratch database is gone afterwards either way.
func TestLoadTestTruncatedDump(t *testing.T) {
	ctx := context.Background()
	_, f, direct, _ := seeded(t)
	s, err := direct.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var full bytes.Buffer
	full.ReadFrom(s)
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	cat, err := CatalogFromDump(bytes.NewReader(full.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if cat.TableRows["asset"] != int64(f.Assets) {
		t.Fatalf("recorded asset rows %d, want %d", cat.TableRows["asset"], f.Assets)
	}
	load := func(dump []byte) func(ctx context.Context, scratch *DB) error {
		return func(ctx context.Context, scratch *DB) error {
			if err := scratch.RecreateDatabase(ctx, scratch.Cfg.Name, false); err != nil {
				return err
			}
			return scratch.Load(ctx, scratch.Cfg.Name, bytes.NewReader(dump), true)
		}
	}
	rep, err := LoadTest(ctx, direct, cat.TableRows, load(full.Bytes()))
	if err != nil || !rep.OK || rep.Rows == 0 {
		t.Fatalf("complete dump: %+v, %v", rep, err)
	}
	// Cut the dump two rows into the asset COPY block.
	d := full.String()
	i := strings.Index(d, "COPY public.asset (")
	if i < 0 {
		t.Fatal("no asset COPY block")
	}
	cut := i
	for n := 0; n < 3; n++ {
		cut += strings.IndexByte(d[cut:], '\n') + 1
	}
	rep, err = LoadTest(ctx, direct, cat.TableRows, load([]byte(d[:cut])))
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = strings.Join(rep.Mismatches, "; ")
	}
	if (err == nil && rep.OK) || !strings.Contains(msg, "asset") {
		t.Fatalf("truncated dump: report %+v, error %v: want a failure naming the asset table", rep, err)
	}
	t.Logf("truncated dump: %s", msg)
	if v, _ := direct.Value(ctx, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'immich_vault_restore_test_%'"); v != "0" {
		t.Errorf("%s scratch databases left", v)
	}
}
