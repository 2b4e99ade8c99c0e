package ceiling

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/immich-vault/immich-vault/chunker"
)

// TestCompressTree: text goes through zstd and shrinks; random bytes (what
// media looks like to the entropy test) are skipped and stored at full
// size, as a backup stores them; every byte is counted once.
func TestCompressTree(t *testing.T) {
	dir := t.TempDir()
	text := bytes.Repeat([]byte("INSERT INTO asset VALUES ('2023-04-03 07:14:55', 'IMAGE', '/usr/src/app/upload/library/');\n"), 40000)
	noise := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"dump.sql": text, "sub/photo.jpg": noise, "tiny": []byte("x")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &chunker.Params{Min: 256 << 10, Avg: 512 << 10, Max: 1 << 20}
	res, err := CompressTree(dir, p, 2)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(len(text) + len(noise) + 1)
	if res.Bytes != total {
		t.Errorf("counted %d input bytes, want %d", res.Bytes, total)
	}
	// The random file's last chunk is whatever follows its last cut (the
	// gear table comes from a random key): one under 4 KiB is too small
	// for repo.Compressible to judge and goes through zstd too, as in a
	// backup (1 run in about 100 had such a tail).
	if res.Compressed < int64(len(text)) || res.Compressed >= int64(len(text))+4<<10 {
		t.Errorf("%d bytes went through zstd, want the text's %d plus at most a random tail under 4 KiB (the random file and the 1-byte file are skipped)", res.Compressed, len(text))
	}
	// The random bytes and the tiny file are stored as they are; the
	// repetitive text shrinks to almost nothing.
	if res.Stored < int64(len(noise)+1) || res.Stored > int64(len(noise)+1)+int64(len(text))/20 {
		t.Errorf("stored %d bytes, want %d plus a few %% of the text's %d", res.Stored, len(noise)+1, len(text))
	}
	if res.Time <= 0 || res.Rate() <= 0 || res.Ratio() >= 1 || res.Ratio() <= 0 {
		t.Errorf("time %v, rate %v, ratio %v", res.Time, res.Rate(), res.Ratio())
	}
	if _, err := CompressTree(filepath.Join(dir, "missing"), p, 1); err == nil {
		t.Error("a missing directory: no error")
	}
}
