package archiver_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// TestSmallFileBuffersRoundTrip: files smaller than the chunker's minimum
// (one chunk, read into a buffer of their size's class) and larger ones,
// at the classes' and the minimum's edges, are stored and restored intact.
func TestSmallFileBuffersRoundTrip(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 100, 16<<10 - 2, 16<<10 - 1, 16 << 10, 16<<10 + 1, 20000, 300000, 512<<10 - 2, 512<<10 - 1, 512 << 10, 512<<10 + 1, 3 << 20}
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		dir := filepath.Join(src, "d"+string(rune('a'+i%3)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := repotest.ReadTree(t, src)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}, FileWorkers: 3})
	if sn.Summary.FilesNew != int64(len(sizes)) || sn.Summary.Errors != 0 {
		t.Fatalf("summary %+v", sn.Summary)
	}
	target := t.TempDir()
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target})
	if res.Errors != 0 || len(res.Damaged) != 0 {
		t.Fatalf("restore: %+v", res)
	}
	repotest.DiffTrees(t, want, repotest.ReadTree(t, filepath.Join(target, src)))
}

// TestSmallFileSizeHintWrong: a file whose size changed between the walk's
// lstat and the read (the hint picks a small buffer, the file is larger,
// or the other way round) is chunked exactly as without a hint.
func TestSmallFileSizeHintWrong(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 20000, 40000, 600 << 10, 3 << 20} {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		ref, refTotal, err := archiver.ChunkStreamForTest(ctx, r, bytes.NewReader(data), -1)
		if err != nil || refTotal != int64(n) {
			t.Fatalf("%d bytes without a hint: %d bytes, err %v", n, refTotal, err)
		}
		for _, hint := range []int64{0, 1, 16 << 10, 20000, int64(n), 200000, 512<<10 - 1, 512 << 10} {
			ids, total, err := archiver.ChunkStreamForTest(ctx, r, bytes.NewReader(data), hint)
			if err != nil || total != int64(n) || !slices.Equal(ids, ref) {
				t.Errorf("%d bytes, size hint %d: %d chunks, %d bytes, err %v; want %d chunks, %d bytes", n, hint, len(ids), total, err, len(ref), n)
			}
		}
	}
}
