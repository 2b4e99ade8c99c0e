package repo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// emptyTree stores an empty tree and returns its ID.
func emptyTree(t *testing.T, r *repo.Repository) repo.ID {
	t.Helper()
	var id repo.ID
	err := r.WithUploader(context.Background(), func(ctx context.Context, up *repo.Uploader) error {
		var err error
		id, err = up.SaveTree(ctx, &data.Tree{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestFindSnapshot(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	tree := emptyTree(t, r)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	// 17 snapshots: two of them must share their first hex digit.
	// Times are saved out of order; hosts alternate; every third is tagged.
	var saved []*repo.Snapshot
	for i := range 17 {
		k := (i * 7) % 17
		sn := &repo.Snapshot{
			Time:  base.Add(time.Duration(k) * time.Hour),
			Host:  fmt.Sprintf("host%d", k%2),
			Paths: []string{"/data"},
			Tree:  tree,
		}
		if k%3 == 0 {
			sn.Tags = []string{"daily"}
		}
		if _, err := r.SaveSnapshot(ctx, sn); err != nil {
			t.Fatal(err)
		}
		saved = append(saved, sn)
	}

	all, err := r.Snapshots(ctx, nil)
	if err != nil || len(all) != 17 {
		t.Fatalf("Snapshots: %d, %v", len(all), err)
	}
	for i, sn := range all {
		if want := base.Add(time.Duration(i) * time.Hour); !sn.Time.Equal(want) {
			t.Fatalf("Snapshots()[%d].Time = %v, want %v (oldest first)", i, sn.Time, want)
		}
	}

	byTime := func(k int) string { return all[k].ID().String() }
	for _, c := range []struct {
		name string
		f    repo.SnapshotFilter
		want string
	}{
		{"latest", repo.SnapshotFilter{}, byTime(16)},
		{"latest host1", repo.SnapshotFilter{Hosts: []string{"host1"}}, byTime(15)},
		{"latest daily", repo.SnapshotFilter{Tags: []string{"daily"}}, byTime(15)},
		{"latest host0 daily", repo.SnapshotFilter{Hosts: []string{"host0"}, Tags: []string{"daily"}}, byTime(12)},
		{"latest path", repo.SnapshotFilter{Paths: []string{"/data"}}, byTime(16)},
	} {
		sn, err := r.FindSnapshot(ctx, "latest", c.f)
		if err != nil || sn.ID().String() != c.want {
			t.Errorf("%s: got %v, %v; want %s", c.name, sn, err, c.want[:8])
		}
	}
	if _, err := r.FindSnapshot(ctx, "latest", repo.SnapshotFilter{Hosts: []string{"nohost"}}); !errors.Is(err, repo.ErrSnapshotNotFound) {
		t.Errorf("latest of an unknown host: %v", err)
	}
	if _, err := r.FindSnapshot(ctx, "latest", repo.SnapshotFilter{Paths: []string{"/other"}}); !errors.Is(err, repo.ErrSnapshotNotFound) {
		t.Errorf("latest of an unknown path: %v", err)
	}

	// Unique prefixes, full IDs, upper case.
	for _, sn := range saved {
		id := sn.ID().String()
		for _, ref := range []string{id, id[:12], strings.ToUpper(id[:16])} {
			got, err := r.FindSnapshot(ctx, ref, repo.SnapshotFilter{})
			if err != nil || got.ID() != sn.ID() {
				t.Fatalf("FindSnapshot(%s): %v, %v", ref, got, err)
			}
			if !got.Time.Equal(sn.Time) || got.Host != sn.Host {
				t.Fatalf("FindSnapshot(%s) loaded %+v, saved %+v", ref, got, sn)
			}
		}
	}
	// An ambiguous one-digit prefix exists by pigeonhole.
	count := map[byte]int{}
	for _, sn := range saved {
		count[sn.ID().String()[0]]++
	}
	for c, n := range count {
		if n > 1 {
			if _, err := r.FindSnapshot(ctx, string(c), repo.SnapshotFilter{}); !errors.Is(err, repo.ErrAmbiguousSnapshot) {
				t.Errorf("prefix %q (matching %d): got %v, want ErrAmbiguousSnapshot", c, n, err)
			}
			break
		}
	}
	for _, ref := range []string{"", "zz", strings.Repeat("0", 64), "latestx"} {
		if _, err := r.FindSnapshot(ctx, ref, repo.SnapshotFilter{}); !errors.Is(err, repo.ErrSnapshotNotFound) {
			// "0000…" could in theory exist; with 17 snapshots it does not.
			t.Errorf("FindSnapshot(%q): got %v, want ErrSnapshotNotFound", ref, err)
		}
	}
}

func TestSnapshotFilterMatch(t *testing.T) {
	sn := &repo.Snapshot{Host: "nas", Tags: []string{"a", "b"}, Paths: []string{"/x", "/y"}}
	for _, c := range []struct {
		f    repo.SnapshotFilter
		want bool
	}{
		{repo.SnapshotFilter{}, true},
		{repo.SnapshotFilter{Hosts: []string{"pc", "nas"}}, true},
		{repo.SnapshotFilter{Hosts: []string{"pc"}}, false},
		{repo.SnapshotFilter{Tags: []string{"a", "b"}}, true},
		{repo.SnapshotFilter{Tags: []string{"a", "c"}}, false},
		{repo.SnapshotFilter{Paths: []string{"/y"}}, true},
		{repo.SnapshotFilter{Paths: []string{"/y", "/z"}}, false},
	} {
		if got := c.f.Match(sn); got != c.want {
			t.Errorf("%+v.Match = %v, want %v", c.f, got, c.want)
		}
	}
}

func TestWalkAndDiff(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	repotest.WriteFiles(t, src, map[string]string{
		"same.txt":       "same",
		"modified.txt":   "old",
		"removed.txt":    "gone soon",
		"meta.txt":       "chmod me",
		"dir/keep.txt":   "keep",
		"olddir/x.txt":   "x",
		"olddir/y/z.txt": "z",
		"typechange":     "a file, later a directory",
	})
	first := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	var walked []string
	err := r.Walk(ctx, repotest.Subtree(t, r, first, src), "/", func(p string, n *data.Node) error {
		walked = append(walked, p)
		if p == "/olddir" {
			return repo.ErrSkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantWalk := "/dir /dir/keep.txt /meta.txt /modified.txt /olddir /removed.txt /same.txt /typechange"
	if got := strings.Join(walked, " "); got != wantWalk {
		t.Fatalf("Walk order:\n got %s\nwant %s", got, wantWalk)
	}
	stop := errors.New("stop")
	if err := r.Walk(ctx, first.Tree, "/", func(string, *data.Node) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Walk callback error not returned: %v", err)
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(src, "modified.txt"), []byte("new content"), 0o644))
	must(os.Remove(filepath.Join(src, "removed.txt")))
	must(os.Chmod(filepath.Join(src, "meta.txt"), 0o600))
	must(os.RemoveAll(filepath.Join(src, "olddir")))
	must(os.Remove(filepath.Join(src, "typechange")))
	repotest.WriteFiles(t, src, map[string]string{"added.txt": "new", "newdir/n.txt": "n", "typechange/t.txt": "t"})
	second := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, Parent: first})

	got := map[string]rune{}
	err = r.Diff(ctx, repotest.Subtree(t, r, first, src), repotest.Subtree(t, r, second, src), "/", func(kind rune, p string, n *data.Node) error {
		if n.Type == data.NodeDir && kind == repo.ChangeMeta {
			return nil // directory mtimes change with their contents
		}
		if prev, ok := got[p]; ok {
			got[p] = prev*1000 + kind // typechange: removed then added
			return nil
		}
		got[p] = kind
		return nil
	})
	must(err)
	want := map[string]rune{
		"/added.txt":        repo.ChangeAdded,
		"/newdir":           repo.ChangeAdded,
		"/newdir/n.txt":     repo.ChangeAdded,
		"/removed.txt":      repo.ChangeRemoved,
		"/olddir":           repo.ChangeRemoved,
		"/olddir/x.txt":     repo.ChangeRemoved,
		"/olddir/y":         repo.ChangeRemoved,
		"/olddir/y/z.txt":   repo.ChangeRemoved,
		"/modified.txt":     repo.ChangeModified,
		"/meta.txt":         repo.ChangeMeta,
		"/typechange":       repo.ChangeRemoved*1000 + repo.ChangeAdded,
		"/typechange/t.txt": repo.ChangeAdded,
	}
	for p, k := range want {
		if got[p] != k {
			t.Errorf("Diff %s: got %q, want %q", p, got[p], k)
		}
	}
	for p, k := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("Diff reported unexpected %q %s", k, p)
		}
	}
	// Identical trees: nothing, without loading anything.
	err = r.Diff(ctx, first.Tree, first.Tree, "/", func(kind rune, p string, _ *data.Node) error {
		t.Errorf("Diff of a tree with itself reported %q %s", kind, p)
		return nil
	})
	must(err)
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	be := r.Backend()
	keys, err := r.Keys(ctx)
	if err != nil || len(keys) != 1 || !keys[0].Current || keys[0].ID != r.KeyName() {
		t.Fatalf("Keys after init: %+v, %v", keys, err)
	}
	second, err := r.AddKey(ctx, []byte("second password"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err = r.Keys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys after AddKey: %+v, %v", keys, err)
	}
	var current int
	for _, k := range keys {
		if k.Current {
			current++
			if k.ID != r.KeyName() {
				t.Errorf("current key %s, repository opened with %s", k.ID, r.KeyName())
			}
		}
	}
	if current != 1 {
		t.Fatalf("%d keys marked current", current)
	}
	// Both passwords open the repository with the same master key.
	r2 := repotest.Reopen(t, be, repotest.Options(t))
	r3, err := repo.Open(ctx, be, []byte("second password"), repotest.Options(t))
	if err != nil {
		t.Fatalf("open with the added password: %v", err)
	}
	defer r3.Close()
	if r3.KeyName() != second || r2.KeyName() != r.KeyName() || r3.Config().ID != r.Config().ID {
		t.Fatalf("key names %s/%s", r2.KeyName(), r3.KeyName())
	}
	id := saveBlobs(t, r, pack.DataBlob, []byte("shared master key"))[0]
	if err := r3.SyncIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := r3.LoadBlob(ctx, blobHandle(id), nil); err != nil || string(b) != "shared master key" {
		t.Fatalf("blob via the second key: %q, %v", b, err)
	}

	if err := r.RemoveKey(ctx, r.KeyName()[:10]); !errors.Is(err, repo.ErrKeyInUse) {
		t.Fatalf("RemoveKey(current) = %v, want ErrKeyInUse", err)
	}
	for _, bad := range []string{"", "zz"} {
		if err := r.RemoveKey(ctx, bad); err == nil {
			t.Errorf("RemoveKey(%q) succeeded", bad)
		}
	}
	if err := r.RemoveKey(ctx, second[:10]); err != nil {
		t.Fatalf("RemoveKey(second): %v", err)
	}
	if _, err := repo.Open(ctx, be, []byte("second password"), repotest.Options(t)); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatalf("open with a removed key: %v, want ErrWrongPassword", err)
	}

	// ChangePassword: the new password works, the old one no longer does.
	newName, err := r.ChangePassword(ctx, []byte("third password"))
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyName() != newName {
		t.Errorf("KeyName %s after ChangePassword, want %s", r.KeyName(), newName)
	}
	keys, err = r.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != newName || !keys[0].Current {
		t.Fatalf("Keys after ChangePassword: %+v, %v", keys, err)
	}
	if _, err := repo.Open(ctx, be, repotest.Password, repotest.Options(t)); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatalf("old password after ChangePassword: %v", err)
	}
	r4, err := repo.Open(ctx, be, []byte("third password"), repotest.Options(t))
	if err != nil {
		t.Fatalf("new password after ChangePassword: %v", err)
	}
	r4.Close()
}
