package immich

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/repo"
)

// RestoreTestReport is the result of loading a snapshot's dump into a
// throwaway database.
type RestoreTestReport struct {
	Database   string   `json:"database"`
	Tables     int      `json:"tables"`
	Rows       int64    `json:"rows"`
	Seconds    float64  `json:"seconds"`
	DumpBytes  int64    `json:"dump_bytes"`
	Mismatches []string `json:"mismatches,omitempty"` // "asset: 7 rows recorded, 3 restored"
	// NoCounts: the snapshot predates per-table counts; only the load was tested.
	NoCounts bool `json:"no_counts,omitempty"`
	OK       bool `json:"ok"`
}

// RestoreTest loads the snapshot's dump into a new scratch database on the
// server db points at, through the same path as Restore (search_path fix,
// psql --single-transaction -v ON_ERROR_STOP=1), compares the row count of
// every table with the counts the backup recorded, and drops the database
// (also when the load fails or ctx is cancelled).
func RestoreTest(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, db *DB) (*RestoreTestReport, error) {
	rec, err := RecordOf(sn)
	if err != nil {
		return nil, err
	}
	rep, err := LoadTest(ctx, db, rec.TableRows, func(ctx context.Context, scratch *DB) error {
		_, err := Restore(ctx, r, sn, RestoreOptions{DB: scratch})
		return err
	})
	if rep != nil {
		rep.DumpBytes = rec.DumpBytes
	}
	return rep, err
}

// LoadTest creates a scratch database beside db's, runs load into it,
// compares its per-table row counts with want (nil: no comparison,
// NoCounts) and drops it on every path.
func LoadTest(ctx context.Context, db *DB, want map[string]int64, load func(ctx context.Context, scratch *DB) error) (*RestoreTestReport, error) {
	b := make([]byte, 6)
	rand.Read(b)
	scratch := *db
	scratch.Cfg.Name = "immich_vault_restore_test_" + hex.EncodeToString(b)
	rep := &RestoreTestReport{Database: scratch.Cfg.Name, NoCounts: want == nil}
	start := time.Now()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		scratch.Script(dctx, "postgres", "DROP DATABASE IF EXISTS "+quoteIdent(scratch.Cfg.Name)+" WITH (FORCE);")
	}()
	if err := load(ctx, &scratch); err != nil {
		return rep, fmt.Errorf("the dump does not load: %w", err)
	}
	got, err := scratch.TableRows(ctx)
	if err != nil {
		return rep, fmt.Errorf("count the restored rows: %w", err)
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Tables = len(got)
	for _, n := range got {
		rep.Rows += n
	}
	rep.Mismatches = CompareTableRows(want, got)
	rep.OK = len(rep.Mismatches) == 0
	return rep, nil
}

// CompareTableRows names every table whose restored row count differs from
// the recorded one (want nil: nothing to compare).
func CompareTableRows(want, got map[string]int64) []string {
	var out []string
	for t, n := range want {
		g, ok := got[t]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: %d rows recorded, table missing after the restore", t, n))
		case g != n:
			out = append(out, fmt.Sprintf("%s: %d rows recorded, %d restored", t, n, g))
		}
	}
	sort.Strings(out)
	return out
}

// TableRows counts the rows of every ordinary table outside the system
// schemas of the configured database (exact counts, by unqualified name).
func (d *DB) TableRows(ctx context.Context) (map[string]int64, error) {
	list, err := d.Value(ctx, "", `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r','p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	var q strings.Builder
	for _, l := range strings.Split(list, "\n") {
		schema, table, ok := strings.Cut(strings.TrimSpace(l), ".")
		if !ok {
			continue
		}
		fmt.Fprintf(&q, "SELECT %s || '|' || count(*) FROM %s.%s;\n", quoteLiteral(table), quoteIdent(schema), quoteIdent(table))
	}
	out := map[string]int64{}
	if q.Len() == 0 {
		return out, nil
	}
	res, err := d.Script(ctx, "", q.String())
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(res)), "\n") {
		i := strings.LastIndexByte(l, '|')
		if i < 0 {
			continue
		}
		n, err := strconv.ParseInt(l[i+1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("count rows: %q", l)
		}
		out[l[:i]] += n
	}
	return out, nil
}
