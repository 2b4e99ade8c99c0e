package restorer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// bigFileRepo backs up big.bin (size bytes of random data, cut in chunks
// of the data profile given, in packs of packSize bytes) and small.txt into
// a local repository, and returns the repository, its directory, the
// backed-up source directory, big.bin's bytes and the snapshot.
func bigFileRepo(t *testing.T, size, packSize int, data chunker.Params) (r *repo.Repository, dir, src string, big []byte, sn *repo.Snapshot) {
	t.Helper()
	dir = t.TempDir()
	be, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := repotest.Options(t)
	opts.PackSize = packSize
	opts.ChunkerProfiles = repo.DefaultChunkerProfiles()
	opts.ChunkerProfiles[repo.ProfileData] = data
	r = repotest.InitIn(t, be, opts)
	src = filepath.Join(t.TempDir(), "src")
	big = repotest.RandBytes(41, size)
	repotest.WriteFiles(t, src, map[string]string{"big.bin": string(big), "small.txt": "small"})
	sn = repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	return r, dir, src, big, sn
}

// largeFileRepo backs up big.bin in chunks of ~64 KiB, in 1 MiB packs:
// many chunks per pack, many packs.
func largeFileRepo(t *testing.T, size int) (r *repo.Repository, dir, src string, big []byte, sn *repo.Snapshot) {
	t.Helper()
	return bigFileRepo(t, size, 1<<20, chunker.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10})
}

// A large file is restored by several goroutines at once, each writing
// its own ranges of the file (a pack is cut into ranges of at most the
// span set here), and comes out byte-identical. The first range waits
// (up to a minute) for a second one to start: a restore that wrote the
// file with one writer, range after range, fails here.
func TestRestoreLargeFileParallelRanges(t *testing.T) {
	ctx := context.Background()
	r, _, src, big, sn := largeFileRepo(t, 12<<20)
	node, err := r.FindNode(ctx, sn, src+"/big.bin")
	if err != nil || len(node.Content) < 16 {
		t.Fatalf("big.bin: %d blobs, %v; want many", len(node.Content), err)
	}

	var (
		mu        sync.Mutex
		perPack   = map[repo.ID]int{}
		inflight  atomic.Int32
		maxFlight atomic.Int32
		firstOnce sync.Once
	)
	waited := make(chan bool, 1)
	defer restorer.SetRangeTesting(256<<10, func(id repo.ID, first, last int64) func() {
		mu.Lock()
		perPack[id]++
		mu.Unlock()
		n := inflight.Add(1)
		for m := maxFlight.Load(); n > m && !maxFlight.CompareAndSwap(m, n); m = maxFlight.Load() {
		}
		firstOnce.Do(func() {
			deadline := time.Now().Add(time.Minute)
			for maxFlight.Load() < 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			waited <- maxFlight.Load() >= 2
		})
		return func() { inflight.Add(-1) }
	})()

	target := t.TempDir()
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	if res.Files != 2 || len(res.Damaged) != 0 || res.Errors != 0 {
		t.Fatalf("restore result %+v", res)
	}
	if !<-waited {
		t.Errorf("no second range started while the first was held for a minute: the file was not written by several goroutines at once")
	}
	split := 0
	for _, n := range perPack {
		if n > 1 {
			split++
		}
	}
	if split == 0 {
		t.Errorf("ranges per pack %v: no pack was cut into several ranges", perPack)
	}
	got, err := os.ReadFile(filepath.Join(target, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("big.bin restored with different content (%d bytes, want %d)", len(got), len(big))
	}
	vres, err := restorer.Verify(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	if err != nil || len(vres.Mismatched) != 0 || vres.Files != 2 {
		t.Fatalf("Verify: %+v, %v", vres, err)
	}
}

// A damaged blob in the middle of a large file: the file is reported
// damaged (warning naming it, RestoreResult.Damaged), the other file is
// restored, and --verify reports the damaged one as mismatched.
func TestRestoreLargeFileDamagedMiddleBlob(t *testing.T) {
	ctx := context.Background()
	r, dir, src, big, sn := largeFileRepo(t, 6<<20)
	defer restorer.SetRangeTesting(256<<10, nil)()
	target := restoreDamagedMiddle(t, r, dir, src, big, sn, 8)
	vres, err := restorer.Verify(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	if err != nil || len(vres.Mismatched) != 1 {
		t.Fatalf("Verify after a damaged restore: %+v, %v; want big.bin mismatched", vres, err)
	}
	if errors.Is(err, repo.ErrCorrupt) {
		t.Fatal(err)
	}
}

// restoreDamagedMiddle damages the middle blob of big.bin as bigFileRepo
// backed it up (it must have at least minBlobs blobs), restores src of sn
// into a new directory and checks what such a restore gives: no error,
// big.bin reported damaged with one warning naming it, small.txt restored,
// big.bin not restored intact. It returns the target directory.
func restoreDamagedMiddle(t *testing.T, r *repo.Repository, dir, src string, big []byte, sn *repo.Snapshot, minBlobs int) string {
	t.Helper()
	ctx := context.Background()
	node, err := r.FindNode(ctx, sn, src+"/big.bin")
	if err != nil || len(node.Content) < minBlobs {
		t.Fatalf("big.bin: %d blobs, %v; want many", len(node.Content), err)
	}
	damageBlob(t, r, dir, pack.BlobHandle{ID: node.Content[len(node.Content)/2], Type: pack.DataBlob})

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
	if !slices.Equal(res.Damaged, []string{want}) {
		t.Fatalf("Damaged = %v, want [%s] (warnings %q)", res.Damaged, want, warned)
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], want+": ") {
		t.Fatalf("warnings %q, want one about %s", warned, want)
	}
	got := repotest.ReadTree(t, target)
	if got["small.txt"] != "small" {
		t.Errorf("small.txt not restored: %q", got["small.txt"])
	}
	if got["big.bin"] == string(big) {
		t.Errorf("big.bin restored intact from a damaged blob?")
	}
	return target
}

// BenchmarkRestoreLargeFile: one 64 MiB file from 16 MiB packs (the
// default), the path a video takes: ranges of every pack restored
// concurrently, pwrite at each chunk's offset.
func BenchmarkRestoreLargeFile(b *testing.B) {
	r, _ := repotest.NewLocal(b)
	src, sn := writeAndBackup(b, r, map[string]string{"video.mp4": string(repotest.RandBytes(7, 64<<20))})
	// ranges=8MiB is the restore; ranges=whole-pack restores each pack's
	// contiguous run as one range, as before issue 14's round 2.
	for _, bc := range []struct {
		name string
		span int64
	}{{"ranges=8MiB", 8 << 20}, {"ranges=whole-pack", 1 << 40}} {
		b.Run(bc.name, func(b *testing.B) {
			defer restorer.SetRangeTesting(bc.span, nil)()
			b.SetBytes(64 << 20)
			restoreLoop(b, r, sn, src)
		})
	}
}

// BenchmarkRestoreSmallFiles: 2000 files of 2-40 KiB, one or two per
// directory (as Immich's thumbnails): the per-file and per-directory cost.
func BenchmarkRestoreSmallFiles(b *testing.B) {
	r, _ := repotest.NewLocal(b)
	files := map[string]string{}
	rnd := repotest.RandBytes(9, 64<<10)
	for i := range 2000 {
		size := 2<<10 + (i*7919)%(38<<10)
		files[fmt.Sprintf("t/%02x/%02x/%d.webp", i%16, i/2%256, i)] = string(rnd[i%1024 : i%1024+size])
	}
	src, sn := writeAndBackup(b, r, files)
	restoreLoop(b, r, sn, src)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(files)), "µs/file")
}

// restoreLoop restores src of sn into a new directory at each b.Loop
// iteration, and removes it with the timer stopped.
func restoreLoop(b *testing.B, r *repo.Repository, sn *repo.Snapshot, src string) {
	base := b.TempDir()
	i := 0
	for b.Loop() {
		target := filepath.Join(base, fmt.Sprint(i))
		i++
		if _, err := restorer.Restore(context.Background(), r, sn, restorer.RestoreOptions{Target: target, SubPath: src}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(target)
		b.StartTimer()
	}
}

// writeAndBackup writes files below a new directory and backs it up (the
// repotest helpers take a *testing.T).
func writeAndBackup(b *testing.B, r *repo.Repository, files map[string]string) (string, *repo.Snapshot) {
	src := filepath.Join(b.TempDir(), "src")
	for name, content := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	sn, err := archiver.Backup(context.Background(), r, archiver.BackupOptions{Paths: []string{src}})
	if err != nil || sn.Partial {
		b.Fatalf("Backup: %v", err)
	}
	return src, sn
}
