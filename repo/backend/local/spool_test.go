package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/local"
)

func TestCommitTempNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	be, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Create(ctx); err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("ab", 32)
	h := backend.Handle{Type: backend.PackFile, Name: name}
	commit := func(content string) error {
		f, err := be.CreateTemp(backend.PackFile)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(content)
		return be.CommitTemp(ctx, f, h)
	}
	if err := commit("first"); err != nil {
		t.Fatal(err)
	}
	if err := commit("second"); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("second commit: %v, want ErrExists", err)
	}
	got, err := backend.LoadAll(ctx, be, h)
	if err != nil || string(got) != "first" {
		t.Fatalf("content %q (%v), want the first file untouched", got, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "data", ".tmp-*")); len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	f, _ := be.CreateTemp(backend.PackFile)
	be.AbortTemp(f)
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Fatalf("AbortTemp left %s", f.Name())
	}
	n := 0
	be.List(ctx, backend.PackFile, func(backend.FileInfo) error { n++; return nil })
	if n != 1 {
		t.Fatalf("List shows %d packs, want 1", n)
	}
}
