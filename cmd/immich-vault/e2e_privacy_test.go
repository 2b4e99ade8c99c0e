package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

// TestRepositoryRevealsNothing backs up a distinctive file name, directory
// name, tag and content, then reads every byte of every file of the
// repository (and every name in it) and finds none of them, nor the
// plaintext's unkeyed SHA-256/BLAKE3 hashes.
func TestRepositoryRevealsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	const (
		dirName  = "ZebraSecretDir-91c2"
		fileName = "ZebraSecretName-7f3a.jpg"
		tag      = "ZebraSecretTag-55aa"
		marker   = "DISTINCTIVE-CONTENT-MARKER"
	)
	// A 4 KiB block holding the marker, repeated: compressible, so it also
	// catches a compressed-but-not-encrypted blob.
	block := make([]byte, 4*kib)
	for i := 0; i < len(block); {
		i += copy(block[i:], marker+"|plain text that repeats|")
	}
	content := bytes.Repeat(block, 64)
	mustWrite(t, filepath.Join(src, dirName, fileName), content, 0o644)
	// One incompressible file, hashed too.
	random := randomBytes(4242, 300*kib)
	mustWrite(t, filepath.Join(src, dirName, "other.bin"), random, 0o644)

	e.initRepo()
	e.backup(exitOK, "--tag", tag, src)
	if len(e.snapshots()) != 1 {
		t.Fatal("want 1 snapshot")
	}

	needles := map[string][]byte{
		"directory name": []byte(dirName),
		"file name":      []byte(fileName),
		"file name stem": []byte("ZebraSecretName"),
		"tag":            []byte(tag),
		"content marker": []byte(marker),
	}
	for name, data := range map[string][]byte{"marker file": content, "marker block": block, "random file": random} {
		s := sha256.Sum256(data)
		b := blake3.Sum256(data)
		needles["sha256 of "+name] = s[:]
		needles["sha256 hex of "+name] = []byte(hex.EncodeToString(s[:]))
		needles["blake3 of "+name] = b[:]
		needles["blake3 hex of "+name] = []byte(hex.EncodeToString(b[:]))
	}

	files := 0
	err := filepath.WalkDir(e.repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for what, n := range needles {
			if strings.Contains(p, string(n)) {
				t.Errorf("repository path %q reveals the %s", p, what)
			}
		}
		if d.IsDir() {
			return nil
		}
		files++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for what, n := range needles {
			if i := bytes.Index(data, n); i >= 0 {
				t.Errorf("repository file %s reveals the %s at offset %d", p, what, i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 4 {
		t.Fatalf("only %d files in the repository: the walk did not see it", files)
	}
	// The test must be able to fail: the needles are in the source.
	if !bytes.Contains(mustRead(t, filepath.Join(src, dirName, fileName)), []byte(marker)) {
		t.Fatal("marker missing from the source file")
	}
}
