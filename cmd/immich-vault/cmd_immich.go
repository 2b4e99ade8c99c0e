package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newImmichCmd) }

// immichInstall holds the flags that locate an Immich install.
type immichInstall struct {
	immichDir       string
	uploadLocation  string
	dbMode          string
	dbContainer     string
	dbUser          string
	dbName          string
	serverContainer string
	pgBinDir        string
}

func (o *immichInstall) flags(f *pflag.FlagSet) {
	f.StringVar(&o.immichDir, "immich-dir", "", "Immich install `directory` holding .env and docker-compose.yml")
	f.StringVar(&o.uploadLocation, "upload-location", "", "host `path` of UPLOAD_LOCATION (overrides .env; needed without --immich-dir)")
	f.StringVar(&o.dbMode, "db-mode", "", "database access: docker (docker exec -i immich_postgres) or direct (PGHOST, PGPORT, PGUSER, PGPASSWORD/PGPASSFILE, PGDATABASE) (default docker with --immich-dir, else direct)")
	f.StringVar(&o.dbContainer, "db-container", "", "postgres container `name` (default from compose, else immich_postgres)")
	f.StringVar(&o.dbUser, "db-user", "", "database `user` (default DB_USERNAME from .env; direct mode: PGUSER)")
	f.StringVar(&o.dbName, "db-name", "", "database `name` (default DB_DATABASE_NAME from .env; direct mode: PGDATABASE)")
	f.StringVar(&o.serverContainer, "server-container", "", "Immich server container `name` (default from compose, else immich_server)")
	f.StringVar(&o.pgBinDir, "pg-bin-dir", "", "direct mode: `directory` of pg_dump/psql (default: PATH)")
}

// resolve builds the install configuration and the database client.
func (o *immichInstall) resolve() (immich.Config, *immich.DB, error) {
	cfg := immich.DefaultConfig()
	if o.immichDir != "" {
		c, err := immich.LoadInstall(o.immichDir)
		if err != nil {
			return cfg, nil, fmt.Errorf("%w\nPoint --immich-dir at the folder holding Immich's .env and docker-compose.yml, or give --upload-location and --db-mode direct", err)
		}
		cfg = c
	} else {
		cfg.DB.Mode = "direct"
		cfg.DB.User, cfg.DB.Name = "", ""
	}
	if o.uploadLocation != "" {
		cfg.UploadLocation = o.uploadLocation
	}
	if o.dbMode != "" {
		if o.dbMode != "docker" && o.dbMode != "direct" {
			return cfg, nil, fmt.Errorf("--db-mode %q: want docker or direct", o.dbMode)
		}
		if o.dbMode == "direct" && cfg.DB.Mode == "docker" {
			cfg.DB.User, cfg.DB.Name = "", "" // libpq's PG* variables decide
		}
		cfg.DB.Mode = o.dbMode
	}
	if o.dbContainer != "" {
		cfg.DB.Container = o.dbContainer
	}
	if o.dbUser != "" {
		cfg.DB.User = o.dbUser
	}
	if o.dbName != "" {
		cfg.DB.Name = o.dbName
	}
	if cfg.DB.Mode == "direct" && cfg.DB.Name == "" {
		cfg.DB.Name = os.Getenv("PGDATABASE")
	}
	if o.serverContainer != "" {
		cfg.ServerContainer = o.serverContainer
	}
	return cfg, &immich.DB{Cfg: cfg.DB, BinDir: o.pgBinDir}, nil
}

func newImmichCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "immich",
		Short: "Back up, restore and verify an Immich install (database + files)",
		Long: `Immich-aware workflows: one snapshot holds the PostgreSQL dump (stored first,
uncompressed so it deduplicates), UPLOAD_LOCATION, external libraries and the
install files (.env, compose files). See docs/IMMICH.md.

  immich-vault immich backup  --immich-dir /opt/immich --quiesce stop
  immich-vault immich verify  --snapshot latest --checksums
  immich-vault immich restore latest --target /srv/immich/library --immich-dir /opt/immich`,
	}
	cmd.AddCommand(newImmichBackupCmd(), newImmichRestoreCmd(), newImmichVerifyCmd(), newImmichSnapshotsCmd(), newImmichResumeCmd())
	return cmd
}

// findImmichSnapshot resolves ref ("latest" = newest snapshot tagged immich).
func findImmichSnapshot(cmd *cobra.Command, r *repo.Repository, ref string) (*repo.Snapshot, error) {
	sn, err := r.FindSnapshot(cmd.Context(), ref, repo.SnapshotFilter{Tags: []string{immich.Tag}})
	if errors.Is(err, repo.ErrSnapshotNotFound) && ref == "latest" {
		return nil, fmt.Errorf("no snapshot tagged %q in the repository: run `immich-vault immich backup` first", immich.Tag)
	}
	return sn, err
}
