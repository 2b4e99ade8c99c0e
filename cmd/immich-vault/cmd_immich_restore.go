package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/restorer"
)

type immichRestoreJSON struct {
	SnapshotID     string         `json:"snapshot_id"`
	UploadTarget   string         `json:"upload_target,omitempty"`
	Files          int64          `json:"files"`
	Bytes          int64          `json:"bytes"`
	Damaged        []string       `json:"damaged_files"`
	Unwritten      []string       `json:"unwritten_files"`
	Errors         int64          `json:"errors"`
	MarkersCreated []string       `json:"markers_created"`
	External       []string       `json:"external_restored"`
	Database       string         `json:"database,omitempty"`
	NextSteps      []string       `json:"next_steps"`
	Immich         *immich.Record `json:"immich"`
}

func newImmichRestoreCmd() *cobra.Command {
	var (
		o            immichInstall
		target       string
		overwrite    string
		externalRoot string
		skipDB       bool
		skipFiles    bool
		dropExisting bool
		noSpaceCheck bool
		sel          selectFlags
	)
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT",
		Short: "Restore Immich: files to a new UPLOAD_LOCATION, the database into a fresh database",
		Long: `Restore an "immich" snapshot (ID or "latest"):
  - files of UPLOAD_LOCATION into --target (refused when not empty, unless
    --overwrite; --overwrite if-changed resumes an interrupted restore), every
    storage folder and its .immich marker recreated;
  - external libraries under --external-root (optional);
  - the database dump into a fresh database, through Immich's search_path fix
    and psql --single-transaction -v ON_ERROR_STOP=1 (all or nothing). A
    database that already holds tables is refused unless --drop-existing.
Before restoring the database of a Docker install, start only postgres:
  docker compose create && docker start immich_postgres
Restore onto the same Immich version as the snapshot's (downgrades are not
supported). The exact next steps are printed at the end.

Selective restore: --album, --person, --user, --taken-after, --taken-before
choose assets from the snapshot's database dump (values of one flag are
alternatives, different flags must all match) and restore only their
originals, with XMP sidecars, live-photo video parts and stack members:
into a folder (--target DIR), or into a running Immich through its API
(--to-immich URL with IMMICH_API_KEY), recreating album membership and
skipping assets Immich already has.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sel.chosen() {
				return runSelectiveRestore(cmd, args[0], target, sel)
			}
			ctx := cmd.Context()
			ow, err := restorer.ParseOverwrite(overwrite)
			if err != nil {
				return err
			}
			if skipFiles && skipDB {
				return errors.New("--skip-files and --skip-db together leave nothing to restore")
			}
			cfg, db, err := o.resolve()
			if err != nil {
				return err
			}
			if !skipFiles && target == "" {
				target = cfg.UploadLocation
			}
			if !skipFiles && target == "" {
				return errors.New("no target for the files: give --target DIR (the new UPLOAD_LOCATION), --immich-dir, or --skip-files")
			}
			if !skipDB && db.Cfg.Name == "" {
				return errors.New("no target database: give --db-name, --immich-dir (DB_DATABASE_NAME), PGDATABASE, or --skip-db")
			}
			r, err := openRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			sn, err := findImmichSnapshot(cmd, r, args[0])
			if err != nil {
				return err
			}
			opts := immich.RestoreOptions{
				Overwrite: ow, ExternalRoot: externalRoot, DropExisting: dropExisting,
				Warn: func(p string, err error) { gopts.warnf("%s: %v", p, err) },
				Log: func(format string, args ...any) {
					if !gopts.json {
						gopts.printf(format+"\n", args...)
					}
				},
			}
			if !skipFiles {
				if opts.UploadTarget, err = filepath.Abs(target); err != nil {
					return err
				}
			}
			if !skipDB {
				opts.DB = db
			}
			if !noSpaceCheck {
				opts.SpaceCheck = func(target string, need int64) error {
					return restoreSpaceCheck(target, false, "restore only some assets (--album, --person, --taken-after …) into a folder")(need)
				}
			}
			res, err := immich.Restore(ctx, r, sn, opts)
			if err != nil {
				switch {
				case errors.Is(err, repo.ErrTargetNotEmpty):
					return fmt.Errorf("%w\nNothing was restored. Choose an empty --target, or --overwrite if-changed to resume.", err)
				case errors.Is(err, immich.ErrDatabaseNotEmpty):
					return fmt.Errorf("%w\nNothing was restored. Immich needs a fresh database: stop Immich and pass --drop-existing, or wipe DB_DATA_LOCATION and recreate the postgres container.", err)
				case errors.Is(err, restorer.ErrTargetTooSmall):
					return fmt.Errorf("immich restore refused, nothing was restored (files nor database): %w", err)
				case errors.Is(err, restorer.ErrTargetFull), errors.Is(err, restorer.ErrTargetReadOnly):
					return fmt.Errorf("immich restore stopped, the database was not loaded: %w", err)
				}
				return fmt.Errorf("immich restore failed: %w", err)
			}
			steps := nextSteps(cfg, res, opts, sn)
			if gopts.json {
				j := immichRestoreJSON{SnapshotID: sn.ID().String(), UploadTarget: opts.UploadTarget, Database: res.Database,
					MarkersCreated: nonNil(res.MarkersCreated), External: nonNil(res.External), NextSteps: steps, Immich: res.Record,
					Damaged: []string{}, Unwritten: []string{}}
				if res.Files != nil {
					j.Files, j.Bytes = res.Files.Files, res.Files.Bytes
					j.Damaged, j.Unwritten, j.Errors = nonNil(res.Files.Damaged), nonNil(res.Files.Unwritten), res.Files.Errors
				}
				if err := gopts.printJSON(j); err != nil {
					return err
				}
				return filesNotRestored(append([]*restorer.RestoreResult{res.Files}, res.ExternalFiles...))
			}
			if res.Files != nil {
				gopts.printf("restored %d files (%d bytes) to %s\n", res.Files.Files, res.Files.Bytes, opts.UploadTarget)
			}
			for _, m := range res.MarkersCreated {
				gopts.printf("created missing marker %s\n", m)
			}
			if res.Database != "" {
				gopts.printf("restored the database into %q (search_path fix applied, single transaction)\n", res.Database)
			}
			gopts.printf("\nNext steps:\n")
			for i, s := range steps {
				gopts.printf("  %d. %s\n", i+1, s)
			}
			return filesNotRestored(append([]*restorer.RestoreResult{res.Files}, res.ExternalFiles...))
		},
	}
	f := cmd.Flags()
	o.flags(f)
	f.StringVarP(&target, "target", "t", "", "new UPLOAD_LOCATION `directory` for the files (default: UPLOAD_LOCATION of --immich-dir)")
	f.StringVar(&overwrite, "overwrite", "", "existing files: never|if-changed|always (default: refuse a non-empty target)")
	f.StringVar(&externalRoot, "external-root", "", "restore external libraries under `directory` (their original host paths below it); default: not restored")
	f.BoolVar(&skipDB, "skip-db", false, "restore files only")
	f.BoolVar(&skipFiles, "skip-files", false, "restore the database only")
	f.BoolVar(&dropExisting, "drop-existing", false, "drop and recreate a target database that already holds tables")
	f.BoolVar(&noSpaceCheck, "no-space-check", false, "skip the check that an empty or missing target's disk has room for the files")
	sel.flags(f)
	return cmd
}

func nextSteps(cfg immich.Config, res *immich.RestoreResult, o immich.RestoreOptions, sn *repo.Snapshot) []string {
	rec := res.Record
	var steps []string
	if o.UploadTarget != "" && o.UploadTarget != cfg.UploadLocation {
		steps = append(steps, fmt.Sprintf("set UPLOAD_LOCATION=%s in Immich's .env", o.UploadTarget))
	}
	if len(rec.External) > 0 {
		var m []string
		for _, e := range rec.External {
			m = append(m, e.Host+":"+e.Container)
		}
		if len(res.External) > 0 {
			steps = append(steps, fmt.Sprintf("mount the external libraries restored under %s at the same container paths (%s) in docker-compose.yml", o.ExternalRoot, strings.Join(m, ", ")))
		} else {
			steps = append(steps, fmt.Sprintf("external libraries were not restored: restore them with `immich-vault restore %s:HOSTPATH --target ...` or --external-root, and keep the compose mounts %s", sn.ID().Short(), strings.Join(m, ", ")))
		}
	}
	if rec.ImmichVersion != "" {
		steps = append(steps, fmt.Sprintf("put this line in %s (the image tag of the version the dump came from; downgrades are not supported): IMMICH_VERSION=%s",
			envFileName(cfg), immich.ImageTag(rec.ImmichVersion)))
	}
	if rec.SkipGenerated {
		steps = append(steps, "after start-up, run the thumbnail and video transcoding jobs for all assets (Administration > Jobs): thumbs/ and encoded-video/ were not in the backup")
	}
	dir := cfg.ImmichDir
	if dir == "" {
		dir = "<immich dir>"
	}
	if res.Database != "" || o.DB == nil {
		steps = append(steps, fmt.Sprintf("cd %s && docker compose up -d", dir))
	}
	steps = append(steps, "check the result: immich-vault immich verify --live --checksums (with the same --immich-dir/--upload-location)")
	return steps
}

func envFileName(cfg immich.Config) string {
	if cfg.ImmichDir != "" {
		return filepath.Join(cfg.ImmichDir, ".env")
	}
	return "Immich's .env"
}

// filesNotRestored is the error of an immich restore that finished but
// left files of the library out (results: the files steps' results, nil
// for a step not run): Immich would show them as missing.
func filesNotRestored(results []*restorer.RestoreResult) error {
	var damaged, unwritten []string
	var errs int64
	for _, fr := range results {
		if fr != nil {
			damaged = append(damaged, fr.Damaged...)
			unwritten = append(unwritten, fr.Unwritten...)
			errs += fr.Errors
		}
	}
	switch {
	case len(damaged) > 0:
		return fmt.Errorf("%d file(s) of the library could not be restored because their data in the repository is damaged or missing: %s\nImmich will show them as missing. Run `immich-vault check --read-data` for details; an older snapshot may still hold them", len(damaged), somePaths(damaged))
	case len(unwritten) > 0:
		return fmt.Errorf("%d file(s) of the library could not be written to the target (see the warnings above): %s\nFix what the warnings name, then run the same command again with --overwrite if-changed --skip-db", len(unwritten), somePaths(unwritten))
	case errs > 0:
		return fmt.Errorf("%d error(s) while restoring the files (see the warnings above)", errs)
	}
	return nil
}
