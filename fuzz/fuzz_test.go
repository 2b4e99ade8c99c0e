package fuzz

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

var (
	repoOnce sync.Once
	shared   *repo.Repository
	sharedDr string
)

// sharedRepo returns a repository created once per fuzz process (Argon2id
// and the Badger cache are too slow to set up per input). It lives in a
// temporary directory removed by TestMain.
func sharedRepo(t testing.TB) *repo.Repository {
	repoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "immich-vault-fuzz-")
		if err != nil {
			t.Fatal(err)
		}
		sharedDr = dir
		r, err := repo.Init(context.Background(), mem.New(), repotest.Password,
			repo.Options{CacheDir: dir, KDF: repotest.KDF})
		if err != nil {
			t.Fatal(err)
		}
		shared = r
	})
	if shared == nil {
		t.Fatal("shared repository could not be created")
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	if sharedDr != "" {
		os.RemoveAll(sharedDr)
	}
	os.Exit(code)
}

func FuzzSaveLoadBlob(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add([]byte("hello"), true)
	f.Add(bytes.Repeat([]byte("compressible "), 1000), false)
	f.Add(make([]byte, 70<<10), true)
	f.Fuzz(func(t *testing.T, data []byte, tree bool) {
		r := sharedRepo(t)
		ctx := context.Background()
		typ := pack.DataBlob
		if tree {
			typ = pack.TreeBlob
		}
		var id repo.ID
		var isNew bool
		err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
			var err error
			id, isNew, err = up.SaveBlob(ctx, typ, data)
			if err != nil {
				return err
			}
			// The same bytes again within the uploader are never new.
			_, again, err := up.SaveBlob(ctx, typ, data)
			if again {
				t.Errorf("second SaveBlob of the same data reported new")
			}
			return err
		})
		if err != nil {
			t.Fatalf("save: %v", err)
		}
		if id != r.Key().BlobID(data) {
			t.Fatalf("SaveBlob returned ID %s, keyed hash is %s", id.Short(), r.Key().BlobID(data).Short())
		}
		h := pack.BlobHandle{ID: id, Type: typ}
		got, err := r.LoadBlob(ctx, h, nil)
		if err != nil {
			t.Fatalf("load (new=%v): %v", isNew, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("loaded %d bytes differ from the %d saved", len(got), len(data))
		}
		// With a caller buffer too (the result is appended to buf[:0]).
		got, err = r.LoadBlob(ctx, h, make([]byte, 3, 10))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("load into a buffer: %v", err)
		}
	})
}

func FuzzBackupRestoreStream(f *testing.F) {
	f.Add([]byte{}, "db.sql")
	f.Add([]byte("INSERT INTO t VALUES (1);\n"), "dump")
	f.Add(bytes.Repeat([]byte{0}, 20<<10), "zeros.bin")
	f.Add(bytes.Repeat([]byte("abcdefgh"), 40<<10), "big.sql")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if name == "" || name == "." || name == ".." || bytes.ContainsAny([]byte(name), "/\x00") || len(name) > 200 {
			name = "stream"
		}
		r := sharedRepo(t)
		ctx := context.Background()
		p := "/fuzz/" + name
		sn, err := archiver.Backup(ctx, r, archiver.BackupOptions{
			Host:        "fuzz",
			Streams:     []archiver.Stream{{Path: p, Reader: bytes.NewReader(data)}},
			FileWorkers: 1,
			BlobWorkers: 2,
		})
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		if sn.Summary.BytesProcessed != int64(len(data)) {
			t.Fatalf("BytesProcessed %d, stream has %d bytes", sn.Summary.BytesProcessed, len(data))
		}
		target := t.TempDir()
		res, err := restorer.Restore(ctx, r, sn, restorer.RestoreOptions{Target: target, SubPath: p, Workers: 2})
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if res.Files != 1 || len(res.Damaged) != 0 || res.Errors != 0 {
			t.Fatalf("restore result %+v", res)
		}
		got, err := os.ReadFile(filepath.Join(target, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("restored %d bytes differ from the %d backed up", len(got), len(data))
		}
	})
}
