package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/repo"
)

type immichVerifyJSON struct {
	Mode        string                    `json:"mode"` // snapshot | live
	SnapshotID  string                    `json:"snapshot_id,omitempty"`
	RestoreTest *immich.RestoreTestReport `json:"restore_test,omitempty"`
	*immich.VerifyReport
}

func newImmichVerifyCmd() *cobra.Command {
	var (
		o         immichInstall
		snapshot  string
		live      bool
		checksums bool
		generated bool
		compare   string
		workers   int
		restore   bool
	)
	cmd := &cobra.Command{
		Use:   "verify [--snapshot ID | --live]",
		Short: "Check that every file the Immich database references exists (and, with --checksums, is intact)",
		Long: `Verify an Immich backup or install.

--snapshot ID (default: latest): reads the database dump stored in the
snapshot (no restore, no PostgreSQL needed) and checks the snapshot's own
files; counts are compared with those recorded at backup time.

--live: queries the running database (--immich-dir, or --db-mode direct with
PG* variables) and checks the files on disk, mapping container paths
(/data/, /usr/src/app/upload/, legacy relative upload/) to UPLOAD_LOCATION and
external-library paths through the compose mounts. Counts are compared with
the snapshot given by --compare (default: latest immich snapshot when a
repository is configured; "none" skips).

--restore-test (with --snapshot) also loads the snapshot's dump into a
throwaway database on the PostgreSQL server that --immich-dir (docker exec)
or --db-mode direct (PG* variables) reaches, through the same path as
"immich restore" (search_path fix, psql --single-transaction -v
ON_ERROR_STOP=1), compares every table's row count with the counts the
backup recorded, and drops it. The role needs CREATEDB. A dump that parses
but does not load, or loads fewer rows (a truncated dump), fails and the
table is named. Snapshots from before per-table counts only test the load.

--checksums also compares the SHA-1 of every original with asset.checksum,
in parallel. Missing thumbnails/transcodes are counted but are not failures
(Immich regenerates them) unless --generated.

Exit code 0 when everything checks out, 1 when a file is missing, corrupted
or counts differ (each problem is named).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if live && snapshot != "" {
				return errors.New("give either --snapshot or --live, not both")
			}
			if live && restore {
				return errors.New("--restore-test tests a snapshot's dump: use it with --snapshot, not --live")
			}
			vo := immich.VerifyOptions{Checksums: checksums, Generated: generated, Workers: workers}
			var (
				rep  *immich.VerifyReport
				out  = immichVerifyJSON{Mode: "snapshot"}
				err  error
				repo *repo.Repository
			)
			if !live || (compare != "none" && gopts.repo != "") {
				repo, err = openRepo(ctx)
				if err != nil {
					return err
				}
				defer repo.Close()
			}
			if !live {
				if snapshot == "" {
					snapshot = "latest"
				}
				sn, err := findImmichSnapshot(cmd, repo, snapshot)
				if err != nil {
					return err
				}
				out.SnapshotID = sn.ID().String()
				rep, err = immich.VerifySnapshot(ctx, repo, sn, vo)
				if err != nil {
					return fmt.Errorf("verify snapshot %s: %w", sn.ID().Short(), err)
				}
				if restore {
					_, db, err := o.resolve()
					if err != nil {
						return err
					}
					rt, err := immich.RestoreTest(ctx, repo, sn, db)
					if err != nil {
						return fmt.Errorf("restore test of snapshot %s failed (its scratch database was dropped again): %w", sn.ID().Short(), err)
					}
					out.RestoreTest = rt
					if !rt.OK {
						rep.OK = false
					}
				}
			} else {
				out.Mode = "live"
				cfg, db, err := o.resolve()
				if err != nil {
					return err
				}
				if cfg.UploadLocation == "" {
					return errors.New("UPLOAD_LOCATION is unknown: give --immich-dir or --upload-location")
				}
				if repo != nil {
					ref := compare
					if ref == "" {
						ref = "latest"
					}
					sn, err := findImmichSnapshot(cmd, repo, ref)
					if err != nil {
						return fmt.Errorf("--compare: %w", err)
					}
					rec, err := immich.RecordOf(sn)
					if err != nil {
						return err
					}
					vo.Expected = &rec.Counts
					out.SnapshotID = sn.ID().String()
				}
				cat, err := db.LiveCatalog(ctx)
				if err != nil {
					return fmt.Errorf("read the live database: %w", err)
				}
				rep, err = immich.Verify(ctx, cat, &cfg, immich.OSFiles{}, vo)
				if err != nil {
					return err
				}
			}
			out.VerifyReport = rep
			if gopts.json {
				if err := gopts.printJSON(out); err != nil {
					return err
				}
			} else {
				printVerify(out)
			}
			if !rep.OK {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	f := cmd.Flags()
	o.flags(f)
	f.StringVar(&snapshot, "snapshot", "", "verify snapshot `id` (or latest) without restoring it (default mode)")
	f.BoolVar(&live, "live", false, "verify the running install (database + files on disk)")
	f.BoolVar(&checksums, "checksums", false, "compare SHA-1 of originals with asset.checksum (reads every original)")
	f.BoolVar(&generated, "generated", false, "treat missing thumbnails, previews, transcodes and face crops as failures")
	f.StringVar(&compare, "compare", "", "--live: compare counts with snapshot `id` (default latest immich snapshot if a repository is set; none: skip)")
	f.IntVar(&workers, "workers", 0, "parallel checks (default 2×CPUs)")
	f.BoolVar(&restore, "restore-test", false, "also load the dump into a throwaway database and compare per-table row counts (--snapshot mode)")
	return cmd
}

func printVerify(v immichVerifyJSON) {
	r := v.VerifyReport
	what := "live install"
	if v.Mode == "snapshot" {
		what = "snapshot " + v.SnapshotID[:8]
	}
	gopts.printf("Verified %s (%s schema): %d assets, %d users, %d albums, %d people\n", what, r.Schema, r.Counts.Assets, r.Counts.Users, r.Counts.Albums, r.Counts.Persons)
	gopts.printf("%d referenced files, %d present", r.Referenced, r.Present)
	if r.Hashed > 0 {
		gopts.printf(", %d originals hashed (%s)", r.Hashed, humanize.IBytes(uint64(r.HashedBytes)))
	}
	gopts.printf("\n")
	if r.MissingGenerated > 0 {
		gopts.printf("%d generated files (thumbnails, transcodes) are missing; Immich regenerates them (Administration > Jobs)\n", r.MissingGenerated)
	}
	if r.Expected == nil && v.Mode == "live" {
		gopts.printf("counts not compared (no repository or --compare none)\n")
	}
	for _, m := range r.CountMismatches {
		fmt.Fprintf(gopts.stderr, "COUNT MISMATCH %s\n", m)
	}
	if len(r.Problems) > 0 {
		tw := tabwriter.NewWriter(gopts.stderr, 0, 2, 2, ' ', 0)
		for _, p := range r.Problems {
			where := p.HostPath
			if where == "" {
				where = p.DBPath
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(p.Kind), p.FileKind, where, p.Detail)
		}
		tw.Flush()
	}
	if rt := v.RestoreTest; rt != nil {
		if rt.NoCounts {
			fmt.Fprintf(gopts.stderr, "warning: this snapshot records no per-table row counts (written by an older immich-vault): the dump loaded, counts were not compared\n")
		}
		gopts.printf("Restore test: the dump (%s) loaded into a scratch database in %.1fs: %d tables, %d rows\n", humanize.IBytes(uint64(rt.DumpBytes)), rt.Seconds, rt.Tables, rt.Rows)
		for _, m := range rt.Mismatches {
			fmt.Fprintf(gopts.stderr, "RESTORE TEST ROW COUNT MISMATCH %s\n", m)
		}
	}
	if r.OK {
		gopts.printf("OK: every referenced file is present%s and counts match\n", map[bool]string{true: " and intact", false: ""}[r.Hashed > 0])
	} else {
		fmt.Fprintf(gopts.stderr, "FAILED: %d problem(s), %d count mismatch(es). Restore the named files from an earlier snapshot (immich-vault restore SNAPSHOT:PATH) or investigate before the next prune.\n", len(r.Problems), len(r.CountMismatches))
	}
}

func newImmichSnapshotsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "snapshots",
		Short: "List immich snapshots with their Immich version, counts and dump size",
		Args:  cobra.NoArgs,
		RunE: withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
			ctx := cmd.Context()
			snaps, err := r.Snapshots(ctx, func(id repo.ID, err error) { gopts.warnf("snapshot %s: %v", id.Short(), err) })
			if err != nil {
				return err
			}
			type row struct {
				ID     string         `json:"id"`
				Time   string         `json:"time"`
				Host   string         `json:"host"`
				Immich *immich.Record `json:"immich"`
			}
			rows := []row{}
			for _, s := range snaps {
				if !s.HasTag(immich.Tag) {
					continue
				}
				rec, err := immich.RecordOf(s)
				if err != nil {
					gopts.warnf("%v", err)
					continue
				}
				rows = append(rows, row{s.ID().String(), s.Time.Local().Format("2006-01-02 15:04:05"), s.Host, rec})
			}
			if gopts.json {
				return gopts.printJSON(rows)
			}
			tw := tabwriter.NewWriter(gopts.stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTime\tHost\tImmich\tPostgres\tAssets\tUsers\tAlbums\tDump\tComponents")
			for _, x := range rows {
				rc := x.Immich
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", x.ID[:8], x.Time, x.Host, orUnknown(rc.ImmichVersion), rc.PostgresVersion,
					rc.Counts.Assets, rc.Counts.Users, rc.Counts.Albums, humanize.IBytes(uint64(rc.DumpBytes)), strings.Join(rc.Components, ","))
			}
			tw.Flush()
			gopts.printf("%d immich snapshots\n", len(rows))
			return nil
		}),
	}
}
