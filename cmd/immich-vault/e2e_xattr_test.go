//go:build linux

package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Extended metadata end to end: POSIX ACLs (access and default), user,
// trusted and security.capability attributes, and the immutable,
// append-only and nodump flags survive backup and restore, as the real
// tools (getfacl, getfattr, lsattr) see them; a target file system that
// cannot hold them gets one warning per kind and a count in the summary.
// The tools come from scripts/deps.d/30-acl-attr.sh (packages acl, attr,
// e2fsprogs); the test runs as root (trusted.*, security.capability,
// chattr +i).

// needXattrTools skips (outside CI) when the tools or root are missing, and
// when the file system of dir takes no user attributes, ACLs or flags.
func needXattrTools(t *testing.T, dir string) {
	t.Helper()
	for _, tool := range []string{"setfacl", "getfacl", "setfattr", "getfattr", "chattr", "lsattr"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed: run scripts/test-deps.sh", tool)
			}
			t.Skipf("%s not installed (run scripts/test-deps.sh)", tool)
		}
	}
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the extended-metadata tests need root (trusted.*, security.capability, chattr +i)")
		}
		t.Skip("needs root (trusted.*, security.capability, chattr +i)")
	}
	probe := filepath.Join(dir, "probe")
	mustWrite(t, probe, nil, 0o644)
	defer os.Remove(probe)
	for _, args := range [][]string{{"setfattr", "-n", "user.probe", "-v", "1", probe}, {"setfacl", "-m", "u:1234:r", probe}, {"chattr", "+d", probe}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			// Not in CI's environment (ext4 /tmp); elsewhere a tmpfs
			// without xattr support is a reason to skip, not a failure.
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s on %s: %v\n%s", args[0], dir, err, out)
			}
			t.Skipf("the file system of %s does not take %s: %v %s", dir, args[0], err, out)
		}
	}
}

// sh runs a command in dir and returns its output; it fails the test on error.
func sh(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// unflag removes the immutable and append-only flags below dir so that
// the test's temp dir can be removed.
func unflag(dir string) {
	exec.Command("chattr", "-R", "-f", "-i", "-a", dir).Run()
}

// extSource builds the source tree and returns the paths (relative) whose
// flags lsattr must show unchanged.
func extSource(t *testing.T, src string) []string {
	t.Helper()
	mustMkdirAll(t, filepath.Join(src, "shared"))
	mustMkdirAll(t, filepath.Join(src, "nodump"))
	f := filepath.Join(src, "shared", "report.txt")
	mustWrite(t, f, []byte("quarterly numbers\n"), 0o640)
	// The ACL's mask (rw-) is what stat shows as the group bits (0660);
	// the owning group itself has r-- only.
	sh(t, src, "setfacl", "-m", "u:1234:rw,g::r,g:2345:r,m::rw,o::-", f)
	sh(t, src, "setfattr", "-n", "user.comment", "-v", "checked by <alice> & bob", f)
	sh(t, src, "setfattr", "-n", "user.empty", f)
	sh(t, src, "setfattr", "-n", "user.binary", "-v", "0x00ff00fe0a", f)
	sh(t, src, "setfattr", "-n", "trusted.origin", "-v", "scanner-3", f)
	// cap_net_bind_service=ep (VFS_CAP_REVISION_2, little-endian).
	tool := filepath.Join(src, "shared", "bind-tool")
	mustWrite(t, tool, []byte("#!/bin/sh\n"), 0o755)
	sh(t, src, "setfattr", "-n", "security.capability", "-v", "0x0100000200040000000000000000000000000000", tool)
	// A directory with an access and a default ACL (the default one
	// is inherited by files created in it: restore must not let it
	// leak onto what it writes before the directory's metadata).
	d := filepath.Join(src, "shared")
	sh(t, src, "setfacl", "-m", "u:1234:rwx,g:2345:rx", d)
	sh(t, src, "setfacl", "-d", "-m", "u:1234:rwx,g::r-x,o::---", d)
	// A symlink and a FIFO with a trusted attribute (user.* is not
	// allowed on them).
	if err := os.Symlink("report.txt", filepath.Join(d, "link")); err != nil {
		t.Fatal(err)
	}
	sh(t, src, "setfattr", "-h", "-n", "trusted.note", "-v", "symlink attr", filepath.Join(d, "link"))
	if err := syscall.Mkfifo(filepath.Join(d, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	sh(t, src, "setfattr", "-n", "trusted.note", "-v", "fifo attr", filepath.Join(d, "pipe"))
	// Flags: an immutable file with a second hard link (linking to it
	// after the flag is set would fail), an append-only log, a nodump
	// directory holding an immutable directory.
	imm := filepath.Join(src, "immutable.txt")
	mustWrite(t, imm, []byte("do not touch\n"), 0o644)
	if err := os.Link(imm, filepath.Join(src, "immutable-link.txt")); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(src, "append.log")
	mustWrite(t, log, []byte("line 1\n"), 0o644)
	mustMkdirAll(t, filepath.Join(src, "nodump", "frozen"))
	mustWrite(t, filepath.Join(src, "nodump", "frozen", "inside.txt"), []byte("x"), 0o644)
	sh(t, src, "setfattr", "-n", "user.dir", "-v", "on a directory", filepath.Join(src, "nodump", "frozen"))
	t.Cleanup(func() { unflag(src) })
	sh(t, src, "chattr", "+i", imm)
	sh(t, src, "chattr", "+a", log)
	sh(t, src, "chattr", "+d", filepath.Join(src, "nodump"))
	sh(t, src, "chattr", "+i", filepath.Join(src, "nodump", "frozen"))
	return []string{"immutable.txt", "immutable-link.txt", "append.log", "nodump", "nodump/frozen", "nodump/frozen/inside.txt", "shared/report.txt"}
}

// extView is what the tools report about the tree at dir.
func extView(t *testing.T, dir string, flagged []string) map[string]string {
	t.Helper()
	v := map[string]string{
		"getfacl":  sh(t, dir, "getfacl", "-R", "-p", "-n", "."),
		"getfattr": sh(t, dir, "getfattr", "-R", "-h", "-d", "-m", "-", "-e", "hex", "."),
	}
	for _, p := range flagged {
		out := sh(t, dir, "lsattr", "-d", p)
		v["lsattr "+p] = strings.Fields(out)[0]
	}
	for _, p := range []string{"shared/report.txt", "shared", "immutable.txt"} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		v["mode "+p] = fi.Mode().String()
	}
	return v
}

func TestExtendedMetadataRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	needXattrTools(t, e.dir)
	src := filepath.Join(e.dir, "src")
	flagged := extSource(t, src)
	want := extView(t, src, flagged)
	if !strings.Contains(want["getfacl"], "group::r--") || !strings.Contains(want["getfacl"], "mask::rw-") ||
		!strings.Contains(want["getfacl"], "default:user:1234:rwx") || !strings.Contains(want["getfattr"], "security.capability") {
		t.Fatalf("test setup: unexpected source metadata:\n%s\n%s", want["getfacl"], want["getfattr"])
	}
	e.initRepo()
	e.backup(exitOK, src)

	dst := filepath.Join(e.dir, "restore")
	t.Cleanup(func() { unflag(dst) })
	r := e.ok("restore", "--json", "latest:"+src, "--target", dst)
	if strings.Contains(r.stderr, "not restored") {
		t.Errorf("restore onto ext4 as root reported metadata not restored:\n%v", r)
	}
	got := extView(t, dst, flagged)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s differs after restore:\n--- source ---\n%s\n--- restored ---\n%s", k, w, got[k])
		}
	}
	if b := mustRead(t, filepath.Join(dst, "immutable-link.txt")); string(b) != "do not touch\n" {
		t.Errorf("hard link to the immutable file: %q", b)
	}
	var a, b syscall.Stat_t
	if syscall.Stat(filepath.Join(dst, "immutable.txt"), &a) != nil || syscall.Stat(filepath.Join(dst, "immutable-link.txt"), &b) != nil || a.Ino != b.Ino {
		t.Errorf("immutable.txt and immutable-link.txt are not one inode after restore")
	}
	// The restored immutable file refuses writes, as the source does.
	if err := os.WriteFile(filepath.Join(dst, "immutable.txt"), []byte("x"), 0o644); err == nil {
		t.Errorf("the restored immutable file took a write")
	}

	// An unchanged second backup (files not read) keeps the metadata.
	s2, _ := e.backup(exitOK, src)
	if s2.FilesUnmodified == 0 {
		t.Fatalf("second backup read every file again: %+v", s2)
	}
	lsA := e.ok("ls", "--json", "latest")
	dst2 := filepath.Join(e.dir, "restore2")
	t.Cleanup(func() { unflag(dst2) })
	e.ok("restore", "latest:"+src, "--target", dst2)
	if got2 := extView(t, dst2, flagged); got2["getfattr"] != want["getfattr"] || got2["getfacl"] != want["getfacl"] {
		t.Errorf("metadata lost by the incremental backup:\n%s\n%s\nls:\n%s", got2["getfacl"], got2["getfattr"], lsA.stdout)
	}
}

// TestExtendedMetadataUnsupportedTarget: a target file system without
// attributes, ACLs or flags (ramfs) gets the contents, one warning per kind
// of metadata and the counts in --json; the restore itself succeeds.
func TestExtendedMetadataUnsupportedTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	needXattrTools(t, e.dir)
	src := filepath.Join(e.dir, "src")
	extSource(t, src)
	e.initRepo()
	e.backup(exitOK, src)

	dst := filepath.Join(e.dir, "ramfs")
	mountRamfs(t, dst)
	r := e.run("restore", "--json", "latest:"+src, "--target", dst)
	wantCode(t, r, exitOK)
	if b := mustRead(t, filepath.Join(dst, "shared", "report.txt")); string(b) != "quarterly numbers\n" {
		t.Errorf("content: %q", b)
	}
	raw := lastJSONObject(t, r)
	var sum struct {
		Errors      int64            `json:"errors"`
		NotRestored map[string]int64 `json:"metadata_not_restored"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("%v\n%v", err, r)
	}
	// report.txt: ACL, 3 user, 1 trusted; bind-tool: capability; shared:
	// ACL (access + default); pipe: the ACL it inherited from shared's
	// default ACL when created, and trusted; link: trusted; frozen: user;
	// flags on 4 entries (immutable.txt and its link are one file).
	want := map[string]int64{"acl": 4, "user": 4, "trusted": 3, "security.capability": 1, "flags": 4}
	for k, n := range want {
		if sum.NotRestored[k] != n {
			t.Errorf("metadata_not_restored[%s] = %d, want %d (all: %v)\n%v", k, sum.NotRestored[k], n, sum.NotRestored, r)
		}
	}
	if sum.Errors != 0 {
		t.Errorf("errors = %d, want 0\n%v", sum.Errors, r)
	}
	for _, kind := range []string{"ACLs", "user extended attributes", "trusted extended attributes", "file capabilities (security.capability)", "file flags"} {
		if c := strings.Count(r.stderr, kind+" cannot be restored here"); c != 1 {
			t.Errorf("%d warnings about %s, want exactly 1:\n%s", c, kind, r.stderr)
		}
	}
}

// TestExtendedMetadataSomeFlags: a target file system that has some of a
// file's flags and not others (tmpfs: immutable and nodump, not sync) gets
// those it has; the others are counted, one per flag.
func TestExtendedMetadataSomeFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	needXattrTools(t, e.dir)
	src := filepath.Join(e.dir, "src")
	f := filepath.Join(src, "sealed.txt")
	mustWrite(t, f, []byte("sealed\n"), 0o644)
	t.Cleanup(func() { unflag(src) })
	sh(t, src, "chattr", "+S", "+d", "+i", f)
	e.initRepo()
	e.backup(exitOK, src)

	dst := filepath.Join(e.dir, "tmpfs")
	mustMkdirAll(t, dst)
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", dst).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { unflag(dst); exec.Command("umount", dst).Run() })
	probe := filepath.Join(dst, "probe")
	mustWrite(t, probe, nil, 0o644)
	if out, err := exec.Command("chattr", "+d", probe).CombinedOutput(); err != nil {
		t.Skipf("this kernel's tmpfs has no file flags: %v %s", err, out)
	}
	if err := os.Remove(probe); err != nil {
		t.Fatal(err)
	}
	r := e.run("restore", "--json", "latest:"+src, "--target", dst)
	wantCode(t, r, exitOK)
	var sum struct {
		NotRestored map[string]int64 `json:"metadata_not_restored"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.NotRestored["flags"] != 1 {
		t.Errorf("flags not restored: %d, want 1 (sync)\n%v", sum.NotRestored["flags"], r)
	}
	got := strings.Fields(sh(t, dst, "lsattr", "sealed.txt"))[0]
	if !strings.Contains(got, "i") || !strings.Contains(got, "d") || strings.Contains(got, "S") {
		t.Errorf("restored flags on tmpfs: %s, want i and d (not S)", got)
	}
}
