package restorer_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// directRepo backs up big.bin in chunks of ~256 KiB, in 4 MiB packs:
// ranges of several MiB, which the local backend reads with O_DIRECT on
// Linux.
func directRepo(t *testing.T, size int) (r *repo.Repository, dir, src string, big []byte, sn *repo.Snapshot) {
	t.Helper()
	return bigFileRepo(t, size, 4<<20, chunker.Params{Min: 128 << 10, Avg: 256 << 10, Max: 1 << 20})
}

// A large file restored from a local repository whose packs are read
// around the page cache, into memory the backend lends and the restore
// decrypts in place: byte-identical, and on Linux (where the temporary
// directory takes O_DIRECT) the blobs were restored from lent bytes.
func TestRestoreLentRanges(t *testing.T) {
	ctx := context.Background()
	r, _, src, big, sn := directRepo(t, 20<<20)
	var lent atomic.Int64
	defer restorer.SetLentHook(func() { lent.Add(1) })()
	target := t.TempDir()
	res, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	if err != nil || res.Files != 2 || len(res.Damaged) != 0 || res.Errors != 0 {
		t.Fatalf("Restore: %+v, %v", res, err)
	}
	got := repotest.ReadTree(t, target)
	if got["big.bin"] != string(big) || got["small.txt"] != "small" {
		t.Fatalf("restored content differs (big.bin %d bytes, want %d)", len(got["big.bin"]), len(big))
	}
	t.Logf("%d blobs restored from lent bytes", lent.Load())
	if runtime.GOOS == "linux" && lent.Load() == 0 {
		t.Errorf("no blob restored from lent bytes: the local backend's direct reads were not used")
	}
}

// A byte flipped in a blob read through the lent-bytes path: the file is
// reported damaged, its other blobs' bytes aside, and the in-place
// decryption never lets the bad blob's bytes reach the file as content.
func TestRestoreLentRangesDamaged(t *testing.T) {
	r, dir, src, big, sn := directRepo(t, 20<<20)
	var lent atomic.Int64
	defer restorer.SetLentHook(func() { lent.Add(1) })()
	restoreDamagedMiddle(t, r, dir, src, big, sn, 16)
	if runtime.GOOS == "linux" && lent.Load() == 0 {
		t.Errorf("no blob restored from lent bytes: the test did not exercise the direct reads")
	}
}
