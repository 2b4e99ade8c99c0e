package restorer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
)

// damageBlob flips one bit in the middle of blob h's stored bytes, in its
// pack file of the local repository r at dir (made writable first), and
// returns where the blob is. A Repository that read the blob before keeps
// what it read in memory: reopen to see the damage.
func damageBlob(t *testing.T, r *repo.Repository, dir string, h pack.BlobHandle) index.Location {
	t.Helper()
	loc, ok, err := r.Cache().Lookup(context.Background(), h)
	if err != nil || !ok {
		t.Fatalf("Lookup: %v %v", ok, err)
	}
	packPath := filepath.Join(dir, "data", loc.Pack.String()[:2], loc.Pack.String())
	b, err := os.ReadFile(packPath)
	if err != nil {
		t.Fatal(err)
	}
	b[int(loc.Offset)+int(loc.Length)/2] ^= 0x40
	if err := os.Chmod(packPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(packPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return loc
}
