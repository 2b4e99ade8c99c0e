package immich

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/internal/proc"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Snapshot layout: the database dump and other generated streams live under
// StreamDir; files keep their absolute host paths.
const (
	StreamDir   = "/.immich-vault"
	DumpPath    = StreamDir + "/database.sql"
	GlobalsPath = StreamDir + "/globals.sql"
	Tag         = "immich"
	// MetadataKey names the snapshot metadata record (Record, JSON).
	MetadataKey    = "immich"
	recordVersion  = 1
	generatedThumb = "thumbs"
	generatedVideo = "encoded-video"
)

// Record is the "immich" metadata of a snapshot (format version 1).
type Record struct {
	Version         int    `json:"version"`
	ImmichVersion   string `json:"immich_version,omitempty"`
	PostgresVersion string `json:"postgres_version,omitempty"`
	Schema          string `json:"schema"`
	Counts          Counts `json:"counts"`
	// TableRows: rows of every table in the dump (absent in older
	// snapshots; immich verify --restore-test compares with it).
	TableRows       map[string]int64 `json:"table_rows,omitempty"`
	Components      []string         `json:"components"`
	UploadLocation  string           `json:"upload_location"`
	External        []Mount          `json:"external_libraries,omitempty"`
	InstallFiles    []string         `json:"install_files,omitempty"`
	ImmichDir       string           `json:"immich_dir,omitempty"`
	DBMode          string           `json:"db_mode"`
	DBName          string           `json:"db_name,omitempty"`
	DBUser          string           `json:"db_user,omitempty"`
	Dump            string           `json:"dump"`
	DumpBytes       int64            `json:"dump_bytes"`
	Globals         string           `json:"globals,omitempty"`
	SkipGenerated   bool             `json:"skip_generated,omitempty"`
	SkipImmichDumps bool             `json:"skip_immich_dumps,omitempty"`
	Quiesce         string           `json:"quiesce"`
	QuiesceSeconds  float64          `json:"quiesce_seconds,omitempty"`
	DumpSeconds     float64          `json:"dump_seconds"`
	WaitSeconds     float64          `json:"wait_quiet_seconds,omitempty"`
}

// RecordOf returns the Immich record of a snapshot.
func RecordOf(sn *repo.Snapshot) (*Record, error) {
	raw, ok := sn.Metadata[MetadataKey]
	if !ok {
		return nil, fmt.Errorf("snapshot %s: %w", sn.ID().Short(), ErrNotImmich)
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("snapshot %s: decode immich record: %w", sn.ID().Short(), err)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("snapshot %s: immich record version %d is not supported (upgrade immich-vault)", sn.ID().Short(), rec.Version)
	}
	return &rec, nil
}

// BackupOptions describe one Immich backup.
type BackupOptions struct {
	Config        Config
	DB            *DB
	Quiesce       *Quiescer // nil: none
	SkipGenerated bool      // leave out thumbs/ and encoded-video/ except DB-referenced originals there
	// SkipImmichDumps leaves out Immich's own nightly dumps
	// (UPLOAD_LOCATION/backups/*.sql.gz): the snapshot's own dump supersedes
	// them, and gzip output deduplicates poorly.
	SkipImmichDumps bool
	Globals         bool // also store pg_dumpall --globals-only
	ExtraPaths      []string
	// ExtraCommands run with sh -c; each output is stored as
	// StreamDir/commands/NN.txt (a failing command fails the backup).
	ExtraCommands  []string
	Tags           []string // "immich" is always added
	Host           string
	Parent         *repo.Snapshot
	Warn           func(path string, err error)
	Progress       *repo.Progress
	ProgramVersion string
	WaitSeconds    float64 // recorded only
	// Log receives progress notes ("dumping the database").
	Log func(format string, args ...any)
	// AfterQuiesce, if set, runs once Immich is quiesced (fault injection
	// in tests).
	AfterQuiesce func()
}

func (o *BackupOptions) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// Backup quiesces Immich (undone before returning, on every path), then
// stores the database dump first and the files second in one snapshot
// tagged "immich" whose metadata holds the Record. A failing dump fails the
// backup before any snapshot is written.
func Backup(ctx context.Context, r *repo.Repository, o BackupOptions) (_ *repo.Snapshot, _ *Record, err error) {
	cfg := o.Config
	if cfg.UploadLocation == "" {
		return nil, nil, fmt.Errorf("%w: give --upload-location or --immich-dir", ErrNoUploadLocation)
	}
	if err := checkUploadLocation(cfg.UploadLocation); err != nil {
		return nil, nil, err
	}
	rec := &Record{
		Version: recordVersion, UploadLocation: cfg.UploadLocation, External: cfg.External, ImmichDir: cfg.ImmichDir,
		DBMode: o.DB.Cfg.Mode, DBName: o.DB.Cfg.Name, DBUser: o.DB.Cfg.User, Dump: DumpPath,
		SkipGenerated: o.SkipGenerated, SkipImmichDumps: o.SkipImmichDumps, Quiesce: QuiesceNone, WaitSeconds: o.WaitSeconds,
	}
	if o.Quiesce != nil && o.Quiesce.Mode != "" {
		rec.Quiesce = o.Quiesce.Mode
		o.logf("quiescing Immich (%s)", o.Quiesce.Mode)
		qstart := time.Now()
		resume, err := o.Quiesce.Pause(ctx)
		if err != nil {
			return nil, nil, err
		}
		// Deferred: runs on every return and while a panic of this
		// goroutine unwinds; the undo uses its own bounded context, since
		// ctx is cancelled after a signal. (A panic in another goroutine
		// ends the process without defers: the watchdog and the quiesce
		// journal cover that, see Journal.)
		defer func() {
			rec.QuiesceSeconds = time.Since(qstart).Seconds()
			if rerr := resume(); rerr != nil {
				o.logf("could not undo quiesce: %v", rerr)
				err = errors.Join(err, fmt.Errorf("undo quiesce (%s): %w", o.Quiesce.Mode, rerr))
			}
		}()
		if o.AfterQuiesce != nil {
			o.AfterQuiesce()
		}
	}
	rec.ImmichVersion, rec.PostgresVersion, err = o.DB.Versions(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the database: %w", err)
	}
	if rec.ImmichVersion == "" {
		rec.ImmichVersion = cfg.ImmichVersion
	}
	paths, components, err := backupPaths(ctx, &o, rec)
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]json.RawMessage{}
	var streams []archiver.Stream

	o.logf("dumping the database (%s mode)", o.DB.Cfg.Mode)
	dumpStart := time.Now()
	dump, err := o.DB.Dump(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer dump.Kill()
	// The dump is parsed while it is stored: the record's counts describe
	// exactly the stored dump.
	pr, pw := io.Pipe()
	var (
		cat     *Catalog
		catErr  error
		catDone = make(chan struct{})
		counted countingReader
	)
	go func() {
		defer close(catDone)
		defer func() {
			// A parser bug must fail this backup (and let the quiesce be
			// undone), not end the process.
			if p := recover(); p != nil {
				catErr = fmt.Errorf("parse the database dump: internal error: %v", p)
				pr.CloseWithError(catErr)
			}
		}()
		cat, catErr = CatalogFromDump(pr)
		io.Copy(io.Discard, pr)
	}()
	counted.r = io.TeeReader(dump, pw)
	streams = append(streams, archiver.Stream{Path: DumpPath, Reader: &counted, Done: func() error {
		werr := dump.Wait()
		pw.Close()
		<-catDone
		if werr != nil {
			return fmt.Errorf("database dump failed, so no snapshot was written: %w", werr)
		}
		if catErr != nil {
			return fmt.Errorf("database dump is not readable: %w", catErr)
		}
		if !bytes.Contains(counted.tail, []byte(dumpComplete)) {
			return fmt.Errorf("database dump is incomplete (it does not end with %q), so no snapshot was written", dumpComplete)
		}
		rec.Schema, rec.Counts, rec.TableRows = cat.Schema, cat.Counts, cat.TableRows
		rec.DumpBytes = counted.n
		rec.DumpSeconds = time.Since(dumpStart).Seconds()
		// Snapshot metadata is read after all streams are done.
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		meta[MetadataKey] = b
		return nil
	}})
	defer pw.CloseWithError(errors.New("backup ended"))
	components = append([]string{"database"}, components...)
	if o.Globals {
		g, err := o.DB.DumpGlobals(ctx)
		if err != nil {
			return nil, nil, err
		}
		defer g.Kill()
		rec.Globals = GlobalsPath
		components = append(components, "globals")
		streams = append(streams, archiver.Stream{Path: GlobalsPath, Reader: g, Done: func() error {
			if err := g.Wait(); err != nil {
				return fmt.Errorf("pg_dumpall --globals-only failed, so no snapshot was written: %w", err)
			}
			return nil
		}})
	}
	for i, c := range o.ExtraCommands {
		st, err := proc.Start(proc.Command(ctx, "sh", "-c", c), fmt.Sprintf("extra command %q", c), nil)
		if err != nil {
			return nil, nil, err
		}
		defer st.Kill()
		streams = append(streams, archiver.Stream{Path: fmt.Sprintf("%s/commands/%02d.txt", StreamDir, i+1), Reader: st, Done: st.Wait})
	}
	if len(o.ExtraCommands) > 0 {
		components = append(components, "command_outputs")
	}
	rec.Components = components
	tags := append([]string{Tag}, o.Tags...)
	sort.Strings(tags)
	tags = dedup(tags)
	var exclude *data.Filter
	if o.SkipImmichDumps {
		if exclude, err = data.NewFilter([]string{filepath.ToSlash(filepath.Join(cfg.UploadLocation, "backups")) + "/*.sql.gz"}); err != nil {
			return nil, nil, err
		}
	}
	o.logf("storing the database dump, then the files")
	sn, err := archiver.Backup(ctx, r, archiver.BackupOptions{
		Paths: paths, Streams: streams, Tags: tags, Host: o.Host, Parent: o.Parent, Metadata: meta, Exclude: exclude,
		Warn: o.Warn, Progress: o.Progress, ProgramVersion: o.ProgramVersion,
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %v", cerr, err) // interrupted: say so, not just "signal: killed"
		}
		return nil, rec, err
	}
	return sn, rec, nil
}

type countingReader struct {
	r    io.Reader
	n    int64
	tail []byte // the last bytes read (for the dump's trailer)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.tail = append(c.tail, p[:n]...)
	if len(c.tail) > 512 {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-256:]...)
	}
	return n, err
}

// dumpComplete is the last comment pg_dump writes: a dump without it was
// cut short (a killed pg_dump, a restarted container), even if every COPY
// block in it is whole.
const dumpComplete = "-- PostgreSQL database dump complete"

func dedup(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// checkUploadLocation refuses a missing or empty upload location (an
// unmounted disk must not produce an empty "backup").
func checkUploadLocation(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("upload location %s: %w (is its disk mounted?)", dir, err)
	}
	if len(entries) == 0 {
		return fmt.Errorf("upload location %s is empty: refusing to back it up (is its disk mounted?)", dir)
	}
	return nil
}

// backupPaths lists the file paths of the snapshot and the components.
func backupPaths(ctx context.Context, o *BackupOptions, rec *Record) ([]string, []string, error) {
	cfg := o.Config
	up := cfg.UploadLocation
	var paths, comps []string
	if !o.SkipGenerated {
		paths = append(paths, up)
	} else {
		// Everything but thumbs/ and encoded-video/; of those, only the
		// .immich markers and files the database references as originals
		// (extracted motion-photo videos live in encoded-video/, #19006).
		entries, err := os.ReadDir(up)
		if err != nil {
			return nil, nil, fmt.Errorf("upload location: %w", err)
		}
		for _, e := range entries {
			if e.Name() != generatedThumb && e.Name() != generatedVideo {
				paths = append(paths, filepath.Join(up, e.Name()))
			}
		}
		for _, g := range []string{generatedThumb, generatedVideo} {
			m := filepath.Join(up, g, ".immich")
			if _, err := os.Lstat(m); err == nil {
				paths = append(paths, m)
			}
		}
		cat, err := o.DB.LiveCatalog(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list originals kept under %s/: %w", generatedVideo, err)
		}
		gen := filepath.Join(up, generatedVideo) + string(filepath.Separator)
		thumbs := filepath.Join(up, generatedThumb) + string(filepath.Separator)
		seen := map[string]bool{}
		for _, r := range cat.Refs {
			if r.Kind != "original" && r.Kind != "sidecar" {
				continue
			}
			hp, ok := cfg.HostPath(r.Path)
			if !ok || seen[hp] || !(strings.HasPrefix(hp, gen) || strings.HasPrefix(hp, thumbs)) {
				continue
			}
			if _, err := os.Lstat(hp); err != nil {
				if o.Warn != nil {
					o.Warn(hp, fmt.Errorf("original referenced by the database is missing: %w", err))
				}
				continue
			}
			seen[hp] = true
			paths = append(paths, hp)
		}
	}
	comps = append(comps, "upload_location")
	var ext bool
	for _, m := range cfg.External {
		if m.Host == up || strings.HasPrefix(m.Host, up+string(filepath.Separator)) {
			continue // already inside the upload location
		}
		if _, err := os.Stat(m.Host); err != nil {
			return nil, nil, fmt.Errorf("external library %s (mounted at %s): %w", m.Host, m.Container, err)
		}
		paths = append(paths, m.Host)
		ext = true
	}
	if ext {
		comps = append(comps, "external_libraries")
	}
	for _, f := range cfg.Files {
		if _, err := os.Lstat(f); err == nil {
			paths = append(paths, f)
			rec.InstallFiles = append(rec.InstallFiles, f)
		}
	}
	if len(rec.InstallFiles) > 0 {
		comps = append(comps, "install_files")
	}
	for _, p := range o.ExtraPaths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Lstat(a); err != nil {
			return nil, nil, fmt.Errorf("extra path: %w", err)
		}
		paths = append(paths, a)
	}
	if len(o.ExtraPaths) > 0 {
		comps = append(comps, "extra_paths")
	}
	return prune(paths), comps, nil
}

// prune removes duplicates and paths inside other paths.
func prune(paths []string) []string {
	sort.Strings(paths)
	var out []string
	for _, p := range paths {
		p = filepath.Clean(p)
		if len(out) > 0 {
			last := out[len(out)-1]
			if p == last || strings.HasPrefix(p, last+string(filepath.Separator)) {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}
