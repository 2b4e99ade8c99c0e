package repo_test

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// tmpFiles lists the temporary files left anywhere in a repository.
func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// sinkWriters counts the goroutines writing spooled packs
// (packsink_linux.go), waiting a little for those that are ending.
func sinkWriters() int {
	n := 0
	for range 50 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		if n = strings.Count(string(buf), "(*directSink).run("); n == 0 {
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// Packs of a local repository are spooled into temporary files: a session
// that fails must remove every one of them.
func TestSpooledPacksLeaveNoLitterOnFailure(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.NewLocal(t)
	boom := errors.New("abort")
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		for i := range 3 {
			if _, _, err := up.SaveBlob(ctx, pack.DataBlob, randomBytes(uint64(i), 300<<10)); err != nil {
				return err
			}
		}
		return boom // packs are open (spooled) at this point
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want %v", err, boom)
	}
	if l := tmpFiles(t, dir); len(l) > 0 {
		t.Fatalf("temporary files left after a failed session: %v", l)
	}
	if n := sinkWriters(); n > 0 {
		t.Fatalf("%d pack writers still running after a failed session (each holds its file's descriptor)", n)
	}
	// A SaveBlob of the failed session that comes late (a goroutine of fn
	// still running) fails and leaves neither a file nor a writer behind.
	var late *repo.Uploader
	_ = r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		late = up
		return boom
	})
	if _, _, err := late.SaveBlob(ctx, pack.DataBlob, randomBytes(42, 300<<10)); err == nil {
		t.Fatal("SaveBlob after its session failed: no error")
	}
	if l := tmpFiles(t, dir); len(l) > 0 {
		t.Fatalf("temporary files left by a late SaveBlob: %v", l)
	}
	if n := sinkWriters(); n > 0 {
		t.Fatalf("%d pack writers left by a late SaveBlob", n)
	}
	// And a successful session stores spooled packs that load back.
	data := randomBytes(99, 500<<10)
	var id repo.ID
	err = r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		var err error
		id, _, err = up.SaveBlob(ctx, pack.DataBlob, data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, nil)
	if err != nil || string(got) != string(data) {
		t.Fatalf("load spooled blob: %v", err)
	}
	if l := tmpFiles(t, dir); len(l) > 0 {
		t.Fatalf("temporary files left after a successful session: %v", l)
	}
}

// A backup into a repository whose disk fills up fails cleanly: no
// snapshot, no temporary files, and the earlier snapshot still restores.
func TestBackupFullDiskFailsCleanly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	ctx := context.Background()
	be, err := local.Open(filepath.Join(mnt, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	r := repotest.InitIn(t, be, repotest.Options(t))
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "small"), []byte("fits on the disk"), 0o644)
	first, err := archiver.Backup(ctx, r, archiver.BackupOptions{Paths: []string{src}})
	if err != nil {
		t.Fatalf("first backup: %v", err)
	}
	os.WriteFile(filepath.Join(src, "big"), randomBytes(7, 12<<20), 0o644)
	if _, err := archiver.Backup(ctx, r, archiver.BackupOptions{Paths: []string{src}}); err == nil {
		t.Fatal("backup of 12 MiB into a 6 MiB disk succeeded")
	} else if !strings.Contains(err.Error(), "no space") {
		t.Errorf("error does not say the disk is full: %v", err)
	}
	ids, err := r.SnapshotIDs(ctx)
	if err != nil || len(ids) != 1 || ids[0] != first.ID() {
		t.Fatalf("snapshots after the failed backup: %v (err %v), want only %s", ids, err, first.ID().Short())
	}
	if l := tmpFiles(t, filepath.Join(mnt, "repo")); len(l) > 0 {
		t.Fatalf("temporary files left: %v", l)
	}
	out := t.TempDir()
	if _, err := restorer.Restore(ctx, r, first, restorer.RestoreOptions{Target: out, SubPath: src}); err != nil {
		t.Fatalf("restore of the earlier snapshot: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "small")); string(b) != "fits on the disk" {
		t.Fatalf("restored %q", b)
	}
}

// HoldWrites: until the hold answers no pack is started, and its refusal
// fails every SaveBlob of a new blob (not only the first), with no file
// left in the repository.
func TestHoldWritesRefusesEveryNewBlob(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.NewLocal(t)
	refused := errors.New("no room")
	release := make(chan struct{})
	errs := make(chan error, 4)
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		up.HoldWrites(func(context.Context) error { <-release; return refused })
		for i := range 4 {
			go func() {
				_, _, err := up.SaveBlob(ctx, pack.DataBlob, randomBytes(uint64(100+i), 200<<10))
				errs <- err
			}()
		}
		time.Sleep(100 * time.Millisecond)
		if l := tmpFiles(t, dir); len(l) > 0 {
			t.Errorf("files created before the hold answered: %v", l)
		}
		close(release)
		var first error
		for range 4 {
			if err := <-errs; !errors.Is(err, refused) {
				t.Errorf("SaveBlob after a refusal: %v; want the refusal", err)
			} else if first == nil {
				first = err
			}
		}
		return first
	})
	if !errors.Is(err, refused) {
		t.Fatalf("session: %v", err)
	}
	var packs []string
	filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			packs = append(packs, p)
		}
		return nil
	})
	if len(packs) > 0 {
		t.Fatalf("files in data/ after a refusal: %v", packs)
	}
}
