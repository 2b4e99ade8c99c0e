package archiver

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

// The archiver on systems without a Unix stat (moved from
// platform_fallback_test.go, which went to fs/ with the portable reader).

type fakeInfo struct{ mtime time.Time }

func (fakeInfo) Name() string         { return "f" }
func (fakeInfo) Size() int64          { return 3 }
func (fakeInfo) Mode() os.FileMode    { return 0o644 }
func (i fakeInfo) ModTime() time.Time { return i.mtime }
func (fakeInfo) IsDir() bool          { return false }
func (fakeInfo) Sys() any             { return nil }

// Without a Unix stat (Windows: Sys() is no *syscall.Stat_t) a node has no
// owner or inode and its ctime is its mtime, so that change detection
// compares mtime and size.
func TestNodeWithoutUnixStat(t *testing.T) {
	a := &archiver{}
	mt := time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("x", 3600))
	n := a.nodeFromInfo("f", "/x/f", fakeInfo{mt})
	if !n.ChangeTime.Equal(mt) || n.ChangeTime.Location() != time.UTC || n.Inode != 0 || n.Device != 0 || n.Links != 0 || n.UID != 0 || n.User != "" {
		t.Fatalf("node %+v", n)
	}
	// A real lstat has a Unix stat exactly where rawfile.go is built.
	fi, err := os.Lstat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, ok := fs.SysStatOf(fi)
	unixStat := runtime.GOOS == "linux" || runtime.GOOS == "darwin" || runtime.GOOS == "freebsd"
	if ok != unixStat {
		t.Fatalf("sysStatOf on %s: ok=%v", runtime.GOOS, ok)
	}
}

// The file cache recognises moved files by device and inode. A file
// without an inode number (Windows) must never be looked up there: every
// file would share inode 0, and two files of equal size and mtime would
// get each other's content.
func TestFileCacheNeedsInode(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("some content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, r, BackupOptions{Paths: []string{p}}); err != nil {
		t.Fatal(err)
	}
	a := &archiver{r: r}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	n := a.nodeFromInfo("f", p, fi)
	if n.Inode == 0 {
		t.Skip("this file system reports inode 0")
	}
	// Control: the file with its inode is known to the file cache.
	ids, ok := a.unchanged(ctx, n, nil)
	if !ok || len(ids) == 0 {
		t.Fatalf("file cache does not know the backed-up file (ok=%v ids=%v)", ok, ids)
	}
	// The same entry keyed by inode 0, as a system without inodes would
	// have written it, is not used.
	v, ok, err := r.Cache().GetMeta(fileCacheKey(n))
	if err != nil || !ok {
		t.Fatalf("GetMeta: %v %v", ok, err)
	}
	n0 := *n
	n0.Inode, n0.Device = 0, 0
	if err := r.Cache().PutMeta(fileCacheKey(&n0), v); err != nil {
		t.Fatal(err)
	}
	if ids, ok := a.unchanged(ctx, &n0, nil); ok {
		t.Fatalf("a node without inode was served from the file cache: %v", ids)
	}
}

// newTestRepo is an in-memory repository with the cheapest KDF (repotest
// cannot be used by this internal test: it imports the archiver).
func newTestRepo(t testing.TB) *repo.Repository {
	t.Helper()
	kdf := crypto.KDFParams{Time: 1, MemoryKiB: crypto.MinKDFMemoryKiB, Threads: 1}
	r, err := repo.Init(context.Background(), mem.New(), []byte("pw"), repo.Options{KDF: kdf, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
