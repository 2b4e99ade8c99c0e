// Package repotest creates throw-away repositories for tests: an in-memory
// (or local-directory) backend, cheap KDF parameters and a private cache
// directory, all cleaned up when the test ends.
package repotest

import (
	"context"
	"testing"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

// Password protects every repository made by this package.
var Password = []byte("repotest password")

// KDF is the cheapest Argon2id setting crypto.KDFParams.Validate accepts.
var KDF = crypto.KDFParams{Time: 1, MemoryKiB: crypto.MinKDFMemoryKiB, Threads: 1}

// Options returns repo.Options with KDF and a cache directory under
// t.TempDir().
func Options(t testing.TB) repo.Options {
	t.Helper()
	return repo.Options{CacheDir: t.TempDir(), KDF: KDF}
}

// New initialises a repository in a fresh in-memory backend. It is closed
// when the test ends.
func New(t testing.TB) *repo.Repository {
	t.Helper()
	return InitIn(t, mem.New(), Options(t))
}

// NewWithOptions is New with caller-supplied options; zero KDF and empty
// CacheDir are replaced by KDF and a temporary directory.
func NewWithOptions(t testing.TB, opts repo.Options) *repo.Repository {
	t.Helper()
	if opts.KDF == (crypto.KDFParams{}) {
		opts.KDF = KDF
	}
	if opts.CacheDir == "" && !opts.NoCache {
		opts.CacheDir = t.TempDir()
	}
	return InitIn(t, mem.New(), opts)
}

// NewLocal initialises a repository in a fresh directory (local backend)
// and returns it with that directory.
func NewLocal(t testing.TB) (*repo.Repository, string) {
	t.Helper()
	dir := t.TempDir()
	be, err := local.Open(dir)
	if err != nil {
		t.Fatalf("open local backend: %v", err)
	}
	return InitIn(t, be, Options(t)), dir
}

// InitIn initialises a repository in be with Password and opts and closes it
// when the test ends (closing twice is harmless for the caller's reopen
// tests: each Open returns its own Repository).
func InitIn(t testing.TB, be backend.Backend, opts repo.Options) *repo.Repository {
	t.Helper()
	r, err := repo.Init(context.Background(), be, Password, opts)
	if err != nil {
		t.Fatalf("init repository: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Reopen closes nothing: it opens the repository in be again with Password
// and opts and closes the new handle when the test ends.
func Reopen(t testing.TB, be backend.Backend, opts repo.Options) *repo.Repository {
	t.Helper()
	r, err := repo.Open(context.Background(), be, Password, opts)
	if err != nil {
		t.Fatalf("open repository: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
