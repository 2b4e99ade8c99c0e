package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStatsModes: restore-size counts every file of every snapshot,
// files-by-contents each content once, raw-data the distinct blobs once
// (so a second snapshot of the same files adds only its trees); --path
// selects snapshots; an unknown mode fails.
func TestStatsModes(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	a, b := filepath.Join(e.dir, "a"), filepath.Join(e.dir, "b")
	mustMkdirAll(t, a)
	mustMkdirAll(t, b)
	data := []byte(strings.Repeat("immich-vault stats ", 50000)) // ~1 MB, compressible
	mustWrite(t, filepath.Join(a, "one"), data, 0o644)
	mustWrite(t, filepath.Join(a, "same"), data, 0o644)
	mustWrite(t, filepath.Join(b, "other"), []byte("other"), 0o644)
	e.backup(0, a)
	e.backup(0, a)
	e.backup(0, b)
	type stats struct {
		Mode        string `json:"mode"`
		Snapshots   int    `json:"snapshots"`
		Files       int64  `json:"total_file_count"`
		Size        int64  `json:"total_size"`
		Blobs       int64  `json:"total_blob_count"`
		Uncompresed int64  `json:"total_uncompressed_size"`
	}
	get := func(args ...string) stats {
		t.Helper()
		return decodeJSON[stats](t, e.ok(append([]string{"--json", "stats"}, args...)...))
	}
	rs := get("--mode", "restore-size", "--path", a)
	if rs.Snapshots != 2 || rs.Files != 4 || rs.Size != 4*int64(len(data)) {
		t.Errorf("restore-size --path a: %+v", rs)
	}
	fc := get("--mode", "files-by-contents", "--path", a)
	if fc.Files != 1 {
		t.Errorf("files-by-contents --path a: %+v (want 1: four files, one content)", fc)
	}
	raw1 := get("--mode", "raw-data", "latest", "--path", a)
	raw2 := get("--mode", "raw-data", "--path", a)
	// The second snapshot adds its own trees (metadata such as access
	// times differ), not the content again.
	if raw1.Snapshots != 1 || raw2.Snapshots != 2 || raw2.Uncompresed-raw1.Uncompresed > 64<<10 {
		t.Errorf("raw-data of one vs two snapshots of the same files: %+v vs %+v", raw1, raw2)
	}
	if raw1.Uncompresed < int64(len(data)) || raw1.Size <= 0 || raw1.Size >= raw1.Uncompresed {
		t.Errorf("raw-data: %+v (want the content once, compressed below its plaintext)", raw1)
	}
	all := get("--mode", "raw-data")
	if all.Snapshots != 3 || all.Blobs <= raw2.Blobs {
		t.Errorf("raw-data of all: %+v", all)
	}
	wantCode(t, e.run("stats", "--mode", "everything"), 1)
}

// TestCopyLatestFiltered: copy's "latest" is the newest snapshot passing
// --host/--tag/--path, and without SNAPSHOT arguments they select what is
// copied.
func TestCopyLatestFiltered(t *testing.T) {
	src := newEnv(t)
	src.initRepo()
	a, b := filepath.Join(src.dir, "a"), filepath.Join(src.dir, "b")
	mustMkdirAll(t, a)
	mustMkdirAll(t, b)
	mustWrite(t, filepath.Join(a, "f"), []byte("a"), 0o644)
	mustWrite(t, filepath.Join(b, "f"), []byte("b"), 0o644)
	src.backup(0, a)
	src.backup(0, b, "--tag", "db")
	dst := newEnv(t)
	dst.initRepo()
	from := opts{extraEnv: []string{"IMMICH_VAULT_FROM_PASSWORD=" + src.password}}
	r := dst.runOpts(from, "copy", "--from-repo", src.repo, "latest", "--path", a)
	wantCode(t, r, 0)
	got := dst.snapshots()
	if len(got) != 1 || got[0].Paths[0] != a {
		t.Fatalf("copy latest --path a: %+v\n%v", got, r)
	}
	r = dst.runOpts(from, "copy", "--from-repo", src.repo, "--tag", "db")
	wantCode(t, r, 0)
	got = dst.snapshots()
	if len(got) != 2 {
		t.Fatalf("copy --tag db: %d snapshots in the destination\n%v", len(got), r)
	}
}
