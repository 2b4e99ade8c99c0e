package archiver_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/restorer"
)

// Init a repository, back up a database dump given as a stream, and
// restore it through the Go API.
func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "immich-vault-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	opts := repo.Options{
		CacheDir: filepath.Join(tmp, "cache"),
		// Cheap Argon2id for the example; leave KDF zero for real use.
		KDF: crypto.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1},
	}
	r, err := repo.Init(ctx, mem.New(), []byte("correct horse"), opts)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	dump := "CREATE TABLE assets (id int);\nINSERT INTO assets VALUES (1);\n"
	sn, err := archiver.Backup(ctx, r, archiver.BackupOptions{
		Host: "nas",
		Tags: []string{"nightly"},
		Streams: []archiver.Stream{{
			Path:   "/immich/db.sql",
			Reader: strings.NewReader(dump),
			Done:   func() error { return nil }, // e.g. wait for pg_dump and check its exit status
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paths:", sn.Paths, "files:", sn.Summary.FilesNew, "bytes:", sn.Summary.BytesProcessed)

	latest, err := r.FindSnapshot(ctx, "latest", repo.SnapshotFilter{Tags: []string{"nightly"}})
	if err != nil {
		log.Fatal(err)
	}
	target := filepath.Join(tmp, "restore")
	res, err := restorer.Restore(ctx, r, latest, restorer.RestoreOptions{Target: target})
	if err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(target, "immich", "db.sql"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("restored files:", res.Files, "identical:", string(b) == dump)
	// Output:
	// paths: [/immich/db.sql] files: 1 bytes: 61
	// restored files: 1 identical: true
}
