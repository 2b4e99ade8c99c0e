package main_test

import (
	"path/filepath"
	"slices"
	"testing"
)

// keyList runs `key list --json` with password pw and returns the key ids.
func (e *env) keyList(pw string) []string {
	e.t.Helper()
	r := e.okOpts(opts{password: strPtr(pw)}, "key", "list", "--json")
	keys := decodeJSON[[]map[string]any](e.t, r)
	var ids []string
	for _, k := range keys {
		id, ok := k["id"].(string)
		if !ok || !isHexID(id) {
			e.t.Fatalf("key list --json: entry without a hex \"id\": %v\n%v", k, r)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pw1 := e.password
	const pw2, pw3 = "second password: añadida", "third password after passwd"
	pwFile2 := filepath.Join(e.dir, "pw2")
	pwFile3 := filepath.Join(e.dir, "pw3")
	// Password files end with a newline, as `echo pw > file` writes them.
	mustWrite(t, pwFile2, []byte(pw2+"\n"), 0o600)
	mustWrite(t, pwFile3, []byte(pw3+"\n"), 0o600)

	src := filepath.Join(e.dir, "src")
	files := smallTree(t, src, 3, 20*kib)
	e.initRepo()
	e.backup(exitOK, src)

	ids := e.keyList(pw1)
	if len(ids) != 1 {
		t.Fatalf("a new repository has %d keys, want 1", len(ids))
	}
	key1 := ids[0]

	e.ok("key", "add", "--new-password-file", pwFile2)
	ids = e.keyList(pw1)
	if len(ids) != 2 || !contains(ids, key1) {
		t.Fatalf("after key add: keys %q, want 2 including %s", ids, key1)
	}
	if got := e.keyList(pw2); !sameSet(got, ids) {
		t.Errorf("the new password lists keys %q, the old one %q", got, ids)
	}
	for _, pw := range []string{pw1, pw2} {
		if n := len(e.snapshotsAs(pw)); n != 1 {
			t.Errorf("password %q: %d snapshots, want 1", pw, n)
		}
	}

	// Remove the first key while logged in with the second.
	e.okOpts(opts{password: strPtr(pw2)}, "key", "remove", key1)
	wantCode(t, e.runOpts(opts{password: strPtr(pw1)}, "snapshots"), exitBadPassword)
	if ids := e.keyList(pw2); len(ids) != 1 || contains(ids, key1) {
		t.Errorf("after key remove %s: keys %q", key1, ids)
	}

	// Change the remaining key's password.
	e.okOpts(opts{password: strPtr(pw2)}, "key", "passwd", "--new-password-file", pwFile3)
	wantCode(t, e.runOpts(opts{password: strPtr(pw2)}, "snapshots"), exitBadPassword)
	if n := len(e.snapshotsAs(pw3)); n != 1 {
		t.Errorf("after passwd: %d snapshots with the new password, want 1", n)
	}
	// The data is still readable with the new password (no re-encryption
	// needed, nothing lost).
	for p, want := range files {
		r := e.okOpts(opts{password: strPtr(pw3)}, "dump", "latest", p)
		if r.stdout != string(want) {
			t.Errorf("after passwd, dump %s differs", p)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (e *env) snapshotsAs(pw string) []snapshot {
	e.t.Helper()
	saved := e.password
	defer func() { e.password = saved }()
	e.password = pw
	return e.snapshots()
}

// TestPasswordSources opens a repository with each way of giving the
// password: file (flag and env), command (flag and env).
func TestPasswordSources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.initRepo()
	pwFile := filepath.Join(e.dir, "password")
	mustWrite(t, pwFile, []byte(e.password+"\n"), 0o600)
	wrongFile := filepath.Join(e.dir, "wrong-password")
	mustWrite(t, wrongFile, []byte("wrong\n"), 0o600)
	command := "cat " + pwFile
	none := strPtr("")

	cases := []struct {
		name string
		o    opts
		args []string
		want int
	}{
		{"flag --password-file", opts{password: none}, []string{"--password-file", pwFile}, exitOK},
		{"env IMMICH_VAULT_PASSWORD_FILE", opts{password: none, extraEnv: []string{"IMMICH_VAULT_PASSWORD_FILE=" + pwFile}}, nil, exitOK},
		{"flag --password-command", opts{password: none}, []string{"--password-command", command}, exitOK},
		{"env IMMICH_VAULT_PASSWORD_COMMAND", opts{password: none, extraEnv: []string{"IMMICH_VAULT_PASSWORD_COMMAND=" + command}}, nil, exitOK},
		{"wrong --password-file", opts{password: none}, []string{"--password-file", wrongFile}, exitBadPassword},
		{"failing --password-command", opts{password: none}, []string{"--password-command", "false"}, exitFailure},
		{"flag --cache-dir", opts{cacheFlag: true}, nil, exitOK},
		{"flag --repo", opts{noRepoEnv: true}, []string{"--repo", e.repo}, exitOK},
		{"flag -r", opts{noRepoEnv: true}, []string{"-r", e.repo}, exitOK},
	}
	for _, c := range cases {
		r := e.runOpts(c.o, append(c.args, "snapshots")...)
		if r.code != c.want {
			t.Errorf("%s: want exit code %d, got:\n%v", c.name, c.want, r)
		}
	}
}
