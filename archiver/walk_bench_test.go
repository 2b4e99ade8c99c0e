package archiver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// thumbTree writes n small files in Immich's thumbs/<user>/<xx>/<yy>/
// fan-out, about one file per directory (corpus B's shape).
func thumbTree(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	for i := range n {
		p := filepath.Join(dir, "thumbs", "user", fmt.Sprintf("%02x", i%256), fmt.Sprintf("%02x", (i/256)%256), fmt.Sprintf("%08d-thumbnail.webp", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, repotest.RandBytes(uint64(i), 2048+i%8192), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkBackupThumbFanOut: per-file and per-directory costs of a backup
// of small files, one per directory. "read" reads every file again
// (ForceRead: open, read, hash, dedup lookup; nothing new is stored after
// the first iteration), "rescan" is a no-change backup against the
// previous snapshot (walk, lstat, parent trees). Per op: one backup of
// 2000 files; allocs/op shows the per-directory allocations.
func BenchmarkBackupThumbFanOut(b *testing.B) {
	const files = 2000
	ctx := context.Background()
	for _, mode := range []string{"read", "rescan"} {
		b.Run(mode, func(b *testing.B) {
			src := thumbTree(b, files)
			r := repotest.New(b)
			sn, err := archiver.Backup(ctx, r, archiver.BackupOptions{Paths: []string{src}, Host: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				opts := archiver.BackupOptions{Paths: []string{src}, Host: "bench", Parent: sn}
				if mode == "read" {
					opts.Parent, opts.ForceRead = nil, true
				}
				sn2, err := archiver.Backup(ctx, r, opts)
				if err != nil {
					b.Fatal(err)
				}
				if got := sn2.Summary.FilesNew + sn2.Summary.FilesChanged + sn2.Summary.FilesUnmodified; got != files {
					b.Fatalf("%d files backed up, want %d", got, files)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*files), "µs/file")
		})
	}
}
