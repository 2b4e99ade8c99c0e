package restorer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/pack"
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
	ctx := context.Background()
	r, dir, src, big, sn := directRepo(t, 20<<20)
	node, err := r.FindNode(ctx, sn, src+"/big.bin")
	if err != nil || len(node.Content) < 16 {
		t.Fatalf("big.bin: %d blobs, %v; want many", len(node.Content), err)
	}
	damageBlob(t, r, dir, pack.BlobHandle{ID: node.Content[len(node.Content)/2], Type: pack.DataBlob})
	var lent atomic.Int64
	defer restorer.SetLentHook(func() { lent.Add(1) })()
	target := t.TempDir()
	var mu sync.Mutex
	var warned []string
	res, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: src,
		Warn: func(p string, err error) {
			mu.Lock()
			warned = append(warned, fmt.Sprintf("%s: %v", p, err))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatalf("Restore with a damaged blob: %v", err)
	}
	want := filepath.ToSlash(filepath.Join(src, "big.bin"))
	if !slices.Equal(res.Damaged, []string{want}) || len(warned) != 1 {
		t.Fatalf("Damaged = %v, warnings %q; want [%s] and one warning", res.Damaged, warned, want)
	}
	if runtime.GOOS == "linux" && lent.Load() == 0 {
		t.Errorf("no blob restored from lent bytes: the test did not exercise the direct reads")
	}
	got := repotest.ReadTree(t, target)
	if got["small.txt"] != "small" {
		t.Errorf("small.txt not restored: %q", got["small.txt"])
	}
	if got["big.bin"] == string(big) {
		t.Errorf("big.bin restored intact from a damaged blob?")
	}
}
