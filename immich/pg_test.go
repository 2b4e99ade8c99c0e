package immich

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.RunMain(m)) }

var dbSeq int

// seeded returns a seeded database (fresh per test) and DB handles for the
// direct and docker (shim) modes.
func seeded(t *testing.T) (*pgtest.Cluster, *pgtest.ImmichFixture, *DB, *DB) {
	t.Helper()
	c := pgtest.Shared(t)
	dbSeq++
	name := strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	f := pgtest.SeedImmich(t, c, name, t.TempDir())
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("PGTEST_BINDIR", c.BinDir)
	t.Setenv("DOCKER_SHIM_LOG", filepath.Join(t.TempDir(), "docker.log"))
	direct := &DB{Cfg: DBConfig{Mode: "direct", Name: name}, BinDir: c.BinDir}
	docker := &DB{Cfg: DBConfig{Mode: "docker", Container: "immich_postgres", User: "postgres", Name: name},
		Docker: filepath.Join(pgtest.ShimDir(), "docker")}
	return c, f, direct, docker
}

func refPaths(c *Catalog) []string {
	var out []string
	for _, r := range c.Refs {
		out = append(out, r.Kind+" "+r.Path+" "+r.Checksum)
	}
	sort.Strings(out)
	return out
}

func TestLiveCatalogAndDumpAgree(t *testing.T) {
	ctx := context.Background()
	_, f, direct, docker := seeded(t)
	live, err := direct.LiveCatalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if live.Schema != "v1.136+" {
		t.Errorf("schema %q", live.Schema)
	}
	want := Counts{Assets: int64(f.Assets), Users: int64(f.Users), Albums: int64(f.Albums), Persons: int64(f.Persons), AssetFiles: int64(2 * f.Assets)}
	if live.Counts != want {
		t.Errorf("counts %+v, want %+v", live.Counts, want)
	}
	if len(live.Refs) != len(f.Referenced) {
		t.Errorf("%d refs, fixture references %d files:\n%s", len(live.Refs), len(f.Referenced), strings.Join(refPaths(live), "\n"))
	}
	sums := 0
	for _, r := range live.Refs {
		if r.Checksum != "" {
			sums++
		}
	}
	if sums != f.Assets {
		t.Errorf("%d checksums, want %d", sums, f.Assets)
	}
	for _, db := range []*DB{direct, docker} {
		s, err := db.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		dumped, err := CatalogFromDump(s)
		if werr := s.Wait(); werr != nil {
			t.Fatal(werr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if a, b := strings.Join(refPaths(live), "\n"), strings.Join(refPaths(dumped), "\n"); a != b || live.Counts != dumped.Counts {
			t.Errorf("mode %s: dump catalog differs from live:\n%s\n---\n%s\n%+v %+v", db.Cfg.Mode, a, b, live.Counts, dumped.Counts)
		}
	}
	iv, pv, err := docker.Versions(ctx)
	if err != nil || iv != f.ImmichVersion || !strings.HasPrefix(pv, "1") {
		t.Errorf("versions %q %q %v", iv, pv, err)
	}
}

// TestSearchPathPitfall reproduces Immich issue #5630 with real PostgreSQL:
// the plain pg_dump output fails to restore (the ll_to_earth index needs
// type earth, invisible with an empty search_path) and restores with the fix.
func TestSearchPathPitfall(t *testing.T) {
	ctx := context.Background()
	c, _, direct, _ := seeded(t)
	s, err := direct.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dump, _ := io.ReadAll(s)
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dump, searchPathEmpty) {
		t.Fatalf("pg_dump output lacks the search_path statement; the test cannot show the pitfall")
	}
	for _, fix := range []bool{false, true} {
		name := "pitfall_nofix"
		if fix {
			name = "pitfall_fix"
		}
		c.CreateDB(t, name)
		err := direct.Load(ctx, name, bytes.NewReader(dump), fix)
		if !fix {
			if err == nil || !strings.Contains(err.Error(), `type "earth" does not exist`) {
				t.Fatalf("restore without the fix: want the earth error, got %v", err)
			}
			// Single transaction: nothing was left behind.
			if n := strings.TrimSpace(c.MustExec(t, name, "SELECT count(*) FROM pg_tables WHERE schemaname='public'")); n != "0" {
				t.Errorf("failed restore left %s tables", n)
			}
			continue
		}
		if err != nil {
			t.Fatalf("restore with the fix: %v", err)
		}
		if n := strings.TrimSpace(c.MustExec(t, name, "SELECT count(*) FROM geodata_places")); n != "3" {
			t.Errorf("geodata_places rows %s", n)
		}
	}
}
