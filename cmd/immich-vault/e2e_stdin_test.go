package main_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// stdinPath finds the path under which a stdin backup named name was
// stored, through ls.
func (e *env) stdinPath(snap, name string) string {
	e.t.Helper()
	paths := e.lsPaths(snap)
	for _, p := range paths {
		if p == name || p == "/"+name || strings.HasSuffix(p, "/"+name) {
			return p
		}
	}
	e.t.Fatalf("ls %s does not list %q:\n%s", snap, name, strings.Join(paths, "\n"))
	return ""
}

func TestBackupStdin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.initRepo()

	// A "database dump": text with some random binary in it, 3 MiB.
	var dump bytes.Buffer
	for dump.Len() < 3*mib {
		dump.WriteString("INSERT INTO asset VALUES ('6f1c2c7e', 'upload/library/admin/IMG_0001.jpg');\n")
		dump.Write(randomBytes(uint64(dump.Len()), 512))
	}
	sum, _ := e.backupOpts(opts{stdin: bytes.NewReader(dump.Bytes())}, exitOK, "--stdin", "--stdin-filename", "db.sql")
	if sum.Partial || sum.Errors != 0 {
		t.Errorf("stdin backup: partial=%v errors=%d", sum.Partial, sum.Errors)
	}
	p := e.stdinPath("latest", "db.sql")
	r := e.ok("dump", "latest", p)
	if r.stdout != dump.String() {
		t.Errorf("dump latest %s: %d bytes differing from the %d bytes given on stdin", p, len(r.stdout), dump.Len())
	}
	// Same content again: deduplicated.
	sum2, _ := e.backupOpts(opts{stdin: bytes.NewReader(dump.Bytes())}, exitOK, "--stdin", "--stdin-filename", "db.sql")
	if sum2.DataAdded > int64(dump.Len())/100 {
		t.Errorf("second identical stdin backup: data_added=%d, want <= 1%% of %d", sum2.DataAdded, dump.Len())
	}

	// --stdin-from-command, successful.
	input := filepath.Join(e.dir, "input.bin")
	data := randomBytes(31337, 700*kib)
	mustWrite(t, input, data, 0o644)
	sum3, _ := e.backup(exitOK, "--stdin-from-command", "--stdin-filename", "from-command.bin", "--", "cat", input)
	p = e.stdinPath(sum3.SnapshotID, "from-command.bin")
	if r := e.ok("dump", sum3.SnapshotID, p); r.stdout != string(data) {
		t.Errorf("dump of the --stdin-from-command file: %d bytes, want the command's %d bytes", len(r.stdout), len(data))
	}

	// --stdin-from-command whose command fails after writing output: no
	// snapshot may claim it.
	before := len(e.snapshots())
	r = e.run("backup", "--stdin-from-command", "--stdin-filename", "broken.sql", "--",
		"sh", "-c", "echo 'CREATE TABLE half_written (id int);'; head -c 100000 /dev/zero; exit 3")
	wantFailure(t, r)
	snaps := e.snapshots()
	if len(snaps) != before {
		t.Errorf("a failing --stdin-from-command left a snapshot: %d snapshots, want %d", len(snaps), before)
	}
	// A command that does not exist fails the same way.
	r = e.run("backup", "--stdin-from-command", "--stdin-filename", "x.sql", "--", filepath.Join(e.dir, "no-such-command"))
	wantFailure(t, r)
	if n := len(e.snapshots()); n != before {
		t.Errorf("a missing --stdin-from-command left a snapshot: %d snapshots, want %d", n, before)
	}
}
