package immich

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/restorer"
)

// RestoreOptions describe an Immich restore.
type RestoreOptions struct {
	// UploadTarget receives the snapshot's UPLOAD_LOCATION ("" = skip files).
	UploadTarget string
	Overwrite    restorer.Overwrite // OverwriteUnset refuses a non-empty target
	// ExternalRoot, if set, receives external libraries at
	// ExternalRoot/<original host path>; otherwise they are not restored.
	ExternalRoot string
	// DB is the target database client (nil = skip the database); the
	// database name is DB.Cfg.Name.
	DB           *DB
	DropExisting bool // replace a non-empty database
	Warn         func(path string, err error)
	Progress     *repo.Progress
	Log          func(format string, args ...any)
	// SpaceCheck, if set, is the free-space check of each files target
	// (restorer.RestoreOptions.SpaceCheck): asked before anything is
	// written there, with what restoring into it needs.
	SpaceCheck func(target string, need int64) error
}

// spaceCheck is o.SpaceCheck for target, as the restorer takes it.
func (o *RestoreOptions) spaceCheck(target string) func(int64) error {
	if o.SpaceCheck == nil {
		return nil
	}
	return func(need int64) error { return o.SpaceCheck(target, need) }
}

// RestoreResult summarises an Immich restore.
type RestoreResult struct {
	Record   *Record
	Files    *restorer.RestoreResult
	External []string // host folders restored under ExternalRoot
	// ExternalFiles: the files step's result for each of External.
	ExternalFiles  []*restorer.RestoreResult
	MarkersCreated []string // .immich files that were missing and were created
	Database       string   // restored database ("" if skipped)
}

// Restore checks both targets first (a non-empty upload target without an
// overwrite policy, or a non-empty database without DropExisting, refuses
// before anything is written), then restores the files, recreates missing
// storage folders and their .immich markers, and loads the dump into a
// fresh database through the search_path fix in one transaction.
func Restore(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, o RestoreOptions) (*RestoreResult, error) {
	rec, err := RecordOf(sn)
	if err != nil {
		return nil, err
	}
	// One reader lock for the dump load and the file restore (a prune
	// running meanwhile waits for it instead of deleting packs read here).
	ctx, release, err := r.HoldForRead(ctx, "immich restore")
	if err != nil {
		return nil, err
	}
	defer release()
	res := &RestoreResult{Record: rec}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(format, args...)
		}
	}
	if o.UploadTarget != "" && o.Overwrite == restorer.OverwriteUnset {
		entries, err := os.ReadDir(o.UploadTarget)
		if err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("%s: %w (use --overwrite if-changed to resume or update a restore)", o.UploadTarget, repo.ErrTargetNotEmpty)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("upload target: %w", err)
		}
	}
	var dbExists bool
	if o.DB != nil {
		exists, rels, err := o.DB.DatabaseState(ctx, o.DB.Cfg.Name)
		if err != nil {
			return nil, err
		}
		if rels > 0 && !o.DropExisting {
			return nil, fmt.Errorf("database %q holds %d tables/sequences: %w (restore into a fresh database, or pass --drop-existing to replace it)", o.DB.Cfg.Name, rels, ErrDatabaseNotEmpty)
		}
		dbExists = exists
		if rels > 0 {
			dbExists = false // dropped and created below
		}
	}
	if o.UploadTarget != "" {
		logf("restoring files of %s to %s", rec.UploadLocation, o.UploadTarget)
		fr, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{
			Target: o.UploadTarget, SubPath: rec.UploadLocation, Overwrite: o.Overwrite, Warn: o.Warn, Progress: o.Progress,
			SpaceCheck: o.spaceCheck(o.UploadTarget),
		})
		res.Files = fr
		if err != nil {
			return res, fmt.Errorf("restore files: %w", err)
		}
		for _, f := range []string{"library", "upload", generatedThumb, generatedVideo, "profile", "backups"} {
			d := filepath.Join(o.UploadTarget, f)
			if err := os.MkdirAll(d, 0o755); err != nil {
				return res, fmt.Errorf("recreate storage folder: %w", err)
			}
			m := filepath.Join(d, ".immich")
			if _, err := os.Lstat(m); errors.Is(err, os.ErrNotExist) {
				if err := os.WriteFile(m, nil, 0o644); err != nil {
					return res, fmt.Errorf("create marker: %w", err)
				}
				res.MarkersCreated = append(res.MarkersCreated, m)
			}
		}
		if o.ExternalRoot != "" {
			for _, m := range rec.External {
				t := filepath.Join(o.ExternalRoot, m.Host)
				logf("restoring external library %s to %s", m.Host, t)
				er, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: t, SubPath: m.Host, Overwrite: o.Overwrite, Warn: o.Warn, Progress: o.Progress, SpaceCheck: o.spaceCheck(t)})
				if err != nil {
					return res, fmt.Errorf("restore external library %s: %w", m.Host, err)
				}
				res.External = append(res.External, t)
				res.ExternalFiles = append(res.ExternalFiles, er)
			}
		}
	}
	if o.DB != nil {
		name := o.DB.Cfg.Name
		if !dbExists {
			if err := o.DB.RecreateDatabase(ctx, name, o.DropExisting); err != nil {
				return res, fmt.Errorf("create database %s: %w", name, err)
			}
		}
		logf("loading the database dump into %q (single transaction)", name)
		sf := NewSnapshotFiles(r, sn)
		dump, err := sf.Open(ctx, rec.Dump)
		if err != nil {
			return res, fmt.Errorf("database dump %s in the snapshot: %w", rec.Dump, err)
		}
		err = o.DB.Load(ctx, name, dump, true)
		dump.Close()
		if err != nil {
			return res, err
		}
		res.Database = name
	}
	return res, nil
}

// verifyReadAhead is the read-ahead window of each file verify hashes
// from a snapshot.
const verifyReadAhead = 16 << 20

// OpenDump streams the snapshot's database dump without restoring anything.
func OpenDump(ctx context.Context, r *repo.Repository, sn *repo.Snapshot) (io.ReadCloser, *Record, error) {
	rec, err := RecordOf(sn)
	if err != nil {
		return nil, nil, err
	}
	rc, err := NewSnapshotFiles(r, sn).Open(ctx, rec.Dump)
	if err != nil {
		return nil, rec, fmt.Errorf("database dump %s in the snapshot: %w", rec.Dump, err)
	}
	return rc, rec, nil
}

// VerifySnapshot checks a snapshot without restoring it: the catalog comes
// from the stored dump, files from the snapshot's trees, expected counts
// from its record.
func VerifySnapshot(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, o VerifyOptions) (*VerifyReport, error) {
	ctx, release, err := r.HoldForRead(ctx, "immich verify")
	if err != nil {
		return nil, err
	}
	defer release()
	dump, rec, err := OpenDump(ctx, r, sn)
	if err != nil {
		return nil, err
	}
	cat, err := CatalogFromDump(dump)
	dump.Close()
	if err != nil {
		return nil, fmt.Errorf("read the database dump: %w", err)
	}
	cfg := Config{UploadLocation: rec.UploadLocation, External: rec.External}
	o.Expected = &rec.Counts
	files := NewSnapshotFiles(r, sn)
	// Several files are hashed at once (Verify's workers): a smaller
	// read-ahead each keeps their sum near one file's default.
	files.ReadAhead = verifyReadAhead
	return Verify(ctx, cat, &cfg, files, o)
}
