package main_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// immich verify --restore-test loads the snapshot's dump into a throwaway
// database on the real test PostgreSQL (docker mode through the docker
// double), compares per-table row counts with the backup's record and drops
// the database. (The truncated-dump case is TestLoadTestTruncatedDump in
// package immich: a truncated dump cannot enter a snapshot through immich
// backup, which now refuses a dump without pg_dump's trailer.)
func TestImmichVerifyRestoreTest(t *testing.T) {
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	ie.ok("immich", "backup", "--immich-dir", ie.dir)
	r := ie.ok("immich", "verify", "--snapshot", "latest", "--restore-test", "--immich-dir", ie.dir, "--json")
	var v struct {
		OK          bool `json:"ok"`
		RestoreTest struct {
			OK         bool     `json:"ok"`
			Tables     int      `json:"tables"`
			Rows       int64    `json:"rows"`
			Mismatches []string `json:"mismatches"`
			NoCounts   bool     `json:"no_counts"`
		} `json:"restore_test"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &v); err != nil {
		t.Fatal(err)
	}
	if !v.OK || !v.RestoreTest.OK || v.RestoreTest.NoCounts || v.RestoreTest.Tables < 5 || v.RestoreTest.Rows < int64(ie.f.Assets) {
		t.Fatalf("restore test: %+v\n%v", v, r)
	}
	if left := strings.TrimSpace(ie.c.MustExec(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'immich_vault_restore_test_%'")); left != "0" {
		t.Errorf("%s scratch databases left", left)
	}
	r = ie.ok("immich", "verify", "--snapshot", "latest", "--restore-test", "--immich-dir", ie.dir)
	if !strings.Contains(r.stdout, "Restore test: the dump") {
		t.Errorf("text output:\n%v", r)
	}
}

// --skip-immich-dumps leaves out Immich's own backups/*.sql.gz and keeps the
// rest of backups/ (its .immich marker).
func TestImmichSkipImmichDumps(t *testing.T) {
	ie := newImmichEnv(t, "immich")
	ie.initRepo()
	gz := ie.f.Upload + "/backups/immich-db-backup-20261206T020000-v3.1.0-pg14.19.sql.gz"
	mustWrite(t, gz, []byte("\x1f\x8bnot really gzip"), 0o644)
	ie.ok("immich", "backup", "--immich-dir", ie.dir, "--skip-immich-dumps")
	paths := ie.lsPaths("latest")
	if contains(paths, gz) || !contains(paths, ie.f.Upload+"/backups/.immich") {
		t.Errorf("with --skip-immich-dumps: %s in snapshot %v, marker %v", gz, contains(paths, gz), contains(paths, ie.f.Upload+"/backups/.immich"))
	}
	ie.ok("immich", "backup", "--immich-dir", ie.dir)
	if !contains(ie.lsPaths("latest"), gz) {
		t.Errorf("without the flag Immich's dump is backed up")
	}
}
