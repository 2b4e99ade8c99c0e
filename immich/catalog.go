package immich

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/immich-vault/immich-vault/internal/proc"
)

// Counts are the row counts recorded at backup time and compared by verify.
type Counts struct {
	Assets     int64 `json:"assets"`
	Users      int64 `json:"users"`
	Albums     int64 `json:"albums"`
	Persons    int64 `json:"persons"`
	AssetFiles int64 `json:"asset_files"`
}

// Ref is one file the database references.
type Ref struct {
	Kind     string // original, sidecar, encoded_video, thumbnail, preview, fullsize, profile, face...
	Path     string // as stored (container path or legacy relative path)
	AssetID  string // "" for profile images and faces
	Checksum string // lower-case hex SHA-1 of the file, for originals whose algorithm is sha1
	External bool   // asset of an external library
}

// Catalog is what a database says about files.
type Catalog struct {
	Schema string // "v1.136+" (singular table names) or "legacy" (assets, users...)
	Counts Counts
	Refs   []Ref
	// TableRows is the row count of every table with a COPY block (by
	// unqualified table name).
	TableRows map[string]int64
}

// Table and column names by schema generation.
type schemaNames struct{ asset, assetFile, user, album, person string }

var (
	namesCurrent = schemaNames{"asset", "asset_file", "user", "album", "person"}
	namesLegacy  = schemaNames{"assets", "asset_files", "users", "albums", "person"}
)

var (
	assetCols     = []string{"id", "type", "originalPath", "checksum", "checksumAlgorithm", "libraryId", "encodedVideoPath", "sidecarPath", "previewPath", "thumbnailPath", "isOffline"}
	assetFileCols = []string{"assetId", "type", "path"}
	userCols      = []string{"id", "profileImagePath"}
	personCols    = []string{"thumbnailPath"}
)

// catalogWant lists the tables and columns a catalog needs, for both schemas.
func catalogWant() map[string][]string {
	w := map[string][]string{}
	for _, n := range []schemaNames{namesCurrent, namesLegacy} {
		w[n.asset] = assetCols
		w[n.assetFile] = assetFileCols
		w[n.user] = userCols
		w[n.album] = nil
		w[n.person] = personCols
	}
	return w
}

// CatalogFromDump reads a plain SQL dump and extracts the catalog.
func CatalogFromDump(r io.Reader) (*Catalog, error) {
	tables, err := ParseDump(r, catalogWant())
	if err != nil {
		return nil, err
	}
	c, err := extract(tables)
	if err != nil {
		return nil, err
	}
	c.TableRows = make(map[string]int64, len(tables))
	for n, t := range tables {
		c.TableRows[n] = t.Count
	}
	return c, nil
}

// extract builds the catalog from parsed tables, detecting the schema
// generation instead of assuming it (tables were renamed in v1.136).
func extract(tables map[string]*Table) (*Catalog, error) {
	c := &Catalog{}
	var n schemaNames
	switch {
	case tables["asset"] != nil:
		n, c.Schema = namesCurrent, "v1.136+"
	case tables["assets"] != nil:
		n, c.Schema = namesLegacy, "legacy"
	default:
		return nil, fmt.Errorf("%w: no asset or assets table (is this an Immich database?)", ErrSchema)
	}
	get := func(t *Table, row []string, col string) string {
		if i := t.Col(col); i >= 0 && row[i] != Null {
			return row[i]
		}
		return ""
	}
	if t := tables[n.asset]; t != nil {
		c.Counts.Assets = t.Count
		for _, row := range t.Rows {
			id := get(t, row, "id")
			if get(t, row, "isOffline") == "t" {
				continue // an offline external file: Immich knows it is missing
			}
			ext := get(t, row, "libraryId") != ""
			if p := get(t, row, "originalPath"); p != "" {
				r := Ref{Kind: "original", Path: p, AssetID: id, External: ext}
				algo := get(t, row, "checksumAlgorithm")
				sum := strings.TrimPrefix(get(t, row, "checksum"), `\x`)
				if (algo == "" || algo == "sha1") && len(sum) == 40 {
					r.Checksum = strings.ToLower(sum)
				}
				c.Refs = append(c.Refs, r)
			}
			for _, k := range []struct{ col, kind string }{
				{"sidecarPath", "sidecar"}, {"encodedVideoPath", "encoded_video"},
				{"previewPath", "preview"}, {"thumbnailPath", "thumbnail"},
			} {
				if p := get(t, row, k.col); p != "" {
					c.Refs = append(c.Refs, Ref{Kind: k.kind, Path: p, AssetID: id, External: ext})
				}
			}
		}
	}
	if t := tables[n.assetFile]; t != nil {
		c.Counts.AssetFiles = t.Count
		for _, row := range t.Rows {
			if p := get(t, row, "path"); p != "" {
				kind := get(t, row, "type")
				if kind == "" {
					kind = "asset_file"
				}
				c.Refs = append(c.Refs, Ref{Kind: kind, Path: p, AssetID: get(t, row, "assetId")})
			}
		}
	}
	if t := tables[n.user]; t != nil {
		c.Counts.Users = t.Count
		for _, row := range t.Rows {
			if p := get(t, row, "profileImagePath"); p != "" {
				c.Refs = append(c.Refs, Ref{Kind: "profile", Path: p})
			}
		}
	}
	if t := tables[n.album]; t != nil {
		c.Counts.Albums = t.Count
	}
	if t := tables[n.person]; t != nil {
		c.Counts.Persons = t.Count
		for _, row := range t.Rows {
			if p := get(t, row, "thumbnailPath"); p != "" {
				c.Refs = append(c.Refs, Ref{Kind: "face", Path: p})
			}
		}
	}
	return c, nil
}

// LiveCatalog reads the catalog from the running database: it detects which
// tables and columns exist, then streams them as COPY blocks in the dump's
// own format, so one parser serves dumps and live databases.
func (d *DB) LiveCatalog(ctx context.Context) (*Catalog, error) {
	want := catalogWant()
	names := make([]string, 0, len(want))
	for t := range want {
		names = append(names, quoteLiteral(t))
	}
	sort.Strings(names)
	out, err := d.Value(ctx, "", `SELECT table_name || '|' || column_name FROM information_schema.columns
 WHERE table_schema = 'public' AND table_name IN (`+strings.Join(names, ",")+`) ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	present := map[string]map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		t, col, ok := strings.Cut(l, "|")
		if !ok {
			continue
		}
		if present[t] == nil {
			present[t] = map[string]bool{}
		}
		present[t][col] = true
	}
	tables := make([]string, 0, len(present))
	for t := range present {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	var script strings.Builder
	for _, t := range tables {
		var cols []string
		for _, c := range want[t] {
			if present[t][c] {
				cols = append(cols, quoteIdent(c))
			}
		}
		sel := strings.Join(cols, ", ")
		if len(cols) == 0 {
			cols, sel = []string{`"n"`}, "1"
		}
		fmt.Fprintf(&script, "\\echo 'COPY public.%s (%s) FROM stdin;'\n", quoteIdent(t), strings.Join(cols, ", "))
		fmt.Fprintf(&script, "COPY (SELECT %s FROM public.%s) TO STDOUT;\n", sel, quoteIdent(t))
		script.WriteString("\\echo '\\\\.'\n")
	}
	cmd := d.command(ctx, "psql", "", "-X", "-q", "-v", "ON_ERROR_STOP=1")
	cmd.Stdin = strings.NewReader(script.String())
	var stderr proc.TailBuffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start psql: %w", err)
	}
	parsed, perr := ParseDump(pipe, want)
	io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		return nil, proc.CmdError("read catalog", err, &stderr)
	}
	if perr != nil {
		return nil, perr
	}
	return extract(parsed)
}

// Versions reads the Immich version (newest version_history row, "" if the
// table is missing) and the PostgreSQL server version.
func (d *DB) Versions(ctx context.Context) (immichVersion, pgVersion string, err error) {
	pgVersion, err = d.Value(ctx, "", "SHOW server_version")
	if err != nil {
		return "", "", err
	}
	has, err := d.Value(ctx, "", "SELECT to_regclass('public.version_history') IS NOT NULL")
	if err != nil || has != "t" {
		return "", pgVersion, err
	}
	immichVersion, err = d.Value(ctx, "", `SELECT version FROM version_history ORDER BY "createdAt" DESC LIMIT 1`)
	return immichVersion, pgVersion, err
}
