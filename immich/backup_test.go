package immich

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/internal/pgtest"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

func fixtureConfig(f *pgtest.ImmichFixture) Config {
	return Config{UploadLocation: f.Upload, External: []Mount{{Host: f.External, Container: f.ExternalContainer, ReadOnly: true}}}
}

func problemsOf(rep *VerifyReport, kind string) []string {
	var out []string
	for _, p := range rep.Problems {
		if p.Kind == kind {
			out = append(out, p.HostPath)
		}
	}
	return out
}

// TestBackupRestoreVerify: backup → wipe database and files → restore →
// verify passes; then delete one original and corrupt another: verify names
// both, live and in a new snapshot.
func TestBackupRestoreVerify(t *testing.T) {
	ctx := context.Background()
	c, f, _, docker := seeded(t)
	r := repotest.New(t)
	cfg := fixtureConfig(f)
	sn, rec, err := Backup(ctx, r, BackupOptions{Config: cfg, DB: docker, Globals: true, Quiesce: &Quiescer{Mode: QuiesceStop, Docker: docker.Docker, Container: "immich_server"}})
	if err != nil {
		t.Fatal(err)
	}
	if !sn.HasTag(Tag) {
		t.Errorf("tags %v", sn.Tags)
	}
	got, err := RecordOf(sn)
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Assets: 7, Users: 2, Albums: 2, Persons: 2, AssetFiles: 14}
	if got.Counts != want || got.ImmichVersion != f.ImmichVersion || got.Schema != "v1.136+" || got.DumpBytes == 0 || !strings.HasPrefix(got.PostgresVersion, "1") {
		t.Errorf("record %+v", got)
	}
	if rec.Counts != got.Counts {
		t.Errorf("returned record differs from stored")
	}
	log, _ := os.ReadFile(os.Getenv("DOCKER_SHIM_LOG"))
	if !strings.Contains(string(log), "stop immich_server\n") || !strings.HasSuffix(string(log), "start immich_server\n") {
		t.Errorf("docker calls:\n%s", log)
	}

	// The snapshot verifies without restoring.
	rep, err := VerifySnapshot(ctx, r, sn, VerifyOptions{Checksums: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Hashed != 7 || rep.Present != int64(len(f.Referenced)) {
		t.Fatalf("snapshot verify: %+v", rep)
	}

	// Wipe database and files.
	c.MustExec(t, "postgres", `DROP DATABASE `+quoteIdent(docker.Cfg.Name)+` WITH (FORCE)`)
	os.RemoveAll(f.Upload)
	target := filepath.Join(t.TempDir(), "restored")
	res, err := Restore(ctx, r, sn, RestoreOptions{UploadTarget: target, DB: docker, ExternalRoot: filepath.Join(t.TempDir(), "ext")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MarkersCreated) != 0 {
		t.Errorf("markers should have been restored, created %v", res.MarkersCreated)
	}
	live, err := docker.LiveCatalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := Config{UploadLocation: target, External: []Mount{{Host: res.External[0], Container: f.ExternalContainer}}}
	rep, err = Verify(ctx, live, &rcfg, OSFiles{}, VerifyOptions{Checksums: true, Expected: &rec.Counts})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Hashed != 7 {
		t.Fatalf("verify after restore: %+v", rep)
	}

	// Delete one original, corrupt another.
	rel := func(p string) string { return filepath.Join(target, strings.TrimPrefix(p, f.Upload)) }
	gone, bad := rel(f.Originals[1]), rel(f.Originals[0])
	os.Remove(gone)
	if err := os.WriteFile(bad, []byte("bit rot"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, live, &rcfg, OSFiles{}, VerifyOptions{Checksums: true})
	if err != nil {
		t.Fatal(err)
	}
	if m, cr := problemsOf(rep, ProblemMissing), problemsOf(rep, ProblemCorrupted); rep.OK || len(m) != 1 || m[0] != gone || len(cr) != 1 || cr[0] != bad {
		t.Fatalf("want missing %s and corrupted %s, got %+v", gone, bad, rep.Problems)
	}
	// Without --checksums the corruption is invisible, the deletion is not.
	rep, _ = Verify(ctx, live, &rcfg, OSFiles{}, VerifyOptions{})
	if len(rep.Problems) != 1 || rep.Hashed != 0 {
		t.Errorf("no checksums: %+v", rep.Problems)
	}

	// A second restore into the now non-empty database is refused, and
	// --drop-existing replaces it.
	_, err = Restore(ctx, r, sn, RestoreOptions{DB: docker})
	if !errors.Is(err, ErrDatabaseNotEmpty) {
		t.Fatalf("restore into non-empty DB: %v", err)
	}
	if _, err := Restore(ctx, r, sn, RestoreOptions{UploadTarget: target}); !errors.Is(err, repo.ErrTargetNotEmpty) {
		t.Fatalf("restore into non-empty target: %v", err)
	}
	if _, err := Restore(ctx, r, sn, RestoreOptions{DB: docker, DropExisting: true, UploadTarget: target, Overwrite: restorer.OverwriteIfChanged}); err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(ctx, live, &rcfg, OSFiles{}, VerifyOptions{Checksums: true})
	if !rep.OK {
		t.Errorf("after resumed restore: %+v", rep.Problems)
	}
}

// A failing dump yields no snapshot, and the server is started again.
func TestBackupFailedDumpNoSnapshot(t *testing.T) {
	ctx := context.Background()
	_, f, _, docker := seeded(t)
	r := repotest.New(t)
	bad := *docker
	bad.Cfg.Name = "no_such_database"
	_, _, err := Backup(ctx, r, BackupOptions{Config: fixtureConfig(f), DB: &bad, Quiesce: &Quiescer{Mode: QuiesceStop, Docker: docker.Docker, Container: "immich_server"}})
	if err == nil {
		t.Fatal("backup of a missing database succeeded")
	}
	ids, _ := r.SnapshotIDs(ctx)
	if len(ids) != 0 {
		t.Errorf("%d snapshots after a failed backup", len(ids))
	}
	log, _ := os.ReadFile(os.Getenv("DOCKER_SHIM_LOG"))
	if !strings.HasSuffix(string(log), "start immich_server\n") {
		t.Errorf("server not started again after failure:\n%s", log)
	}
}

// --skip-generated leaves out thumbnails and transcodes but keeps the
// motion-photo original under encoded-video/ and the .immich markers.
func TestBackupSkipGenerated(t *testing.T) {
	ctx := context.Background()
	_, f, direct, _ := seeded(t)
	r := repotest.New(t)
	sn, _, err := Backup(ctx, r, BackupOptions{Config: fixtureConfig(f), DB: direct, SkipGenerated: true})
	if err != nil {
		t.Fatal(err)
	}
	sf := NewSnapshotFiles(r, sn)
	if _, err := sf.Stat(ctx, f.MotionOriginal); err != nil {
		t.Errorf("motion-photo original missing: %v", err)
	}
	for _, g := range f.Generated {
		if _, err := sf.Stat(ctx, g); err == nil {
			t.Errorf("generated file %s was backed up", g)
		}
	}
	for _, m := range []string{"thumbs/.immich", "encoded-video/.immich", "library/.immich"} {
		if _, err := sf.Stat(ctx, filepath.Join(f.Upload, m)); err != nil {
			t.Errorf("marker %s: %v", m, err)
		}
	}
	rep, err := VerifySnapshot(ctx, r, sn, VerifyOptions{Checksums: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.MissingGenerated != int64(len(f.Generated)) {
		t.Errorf("verify: ok=%v missing generated %d want %d; %+v", rep.OK, rep.MissingGenerated, len(f.Generated), rep.Problems)
	}
	// Restore recreates the skipped folders' markers.
	target := filepath.Join(t.TempDir(), "up")
	res, err := Restore(ctx, r, sn, RestoreOptions{UploadTarget: target})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range pgtest.Folders {
		if _, err := os.Stat(filepath.Join(target, d, ".immich")); err != nil {
			t.Errorf("marker of %s: %v", d, err)
		}
	}
	_ = res
}
