package repo_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// saveBlobs stores blobs through one uploader and returns their IDs.
func saveBlobs(t *testing.T, r *repo.Repository, typ pack.BlobType, blobs ...[]byte) []repo.ID {
	t.Helper()
	ids := make([]repo.ID, len(blobs))
	err := r.WithUploader(context.Background(), func(ctx context.Context, up *repo.Uploader) error {
		for i, b := range blobs {
			id, _, err := up.SaveBlob(ctx, typ, b)
			if err != nil {
				return err
			}
			ids[i] = id
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WithUploader: %v", err)
	}
	return ids
}

func TestInitOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	opts := repotest.Options(t)
	r := repotest.InitIn(t, be, opts)
	cfg := r.Config()
	if cfg.Version != repo.NewestVersion || len(cfg.ID) != 64 || cfg.PackSize != repo.DefaultPackSize {
		t.Fatalf("unexpected config after init: %+v", cfg)
	}
	if _, err := repo.Init(ctx, be, []byte("other"), opts); !errors.Is(err, repo.ErrRepositoryExists) {
		t.Fatalf("second init: got %v, want ErrRepositoryExists", err)
	}
	m, err := repo.CheckMarker(ctx, be)
	if err != nil || m.Version != repo.NewestVersion || m.Format != "immich-vault" {
		t.Fatalf("CheckMarker = %+v, %v", m, err)
	}
	id := saveBlobs(t, r, pack.DataBlob, []byte("hello world"))[0]
	r.Close()

	r2 := repotest.Reopen(t, be, repotest.Options(t))
	if r2.Config().ID != cfg.ID || !r2.Config().Created.Equal(cfg.Created) {
		t.Fatalf("reopened config %+v differs from %+v", r2.Config(), cfg)
	}
	if r2.KeyName() != r.KeyName() {
		t.Fatalf("reopened with key %s, want %s", r2.KeyName(), r.KeyName())
	}
	got, err := r2.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: pack.DataBlob}, nil)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("LoadBlob after reopen = %q, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong password", func(t *testing.T) {
		r := repotest.New(t)
		_, err := repo.Open(ctx, r.Backend(), []byte("not the password"), repotest.Options(t))
		if !errors.Is(err, repo.ErrWrongPassword) {
			t.Fatalf("got %v, want ErrWrongPassword", err)
		}
	})
	t.Run("no marker", func(t *testing.T) {
		be := mem.New()
		_, err := repo.Open(ctx, be, repotest.Password, repotest.Options(t))
		if !errors.Is(err, repo.ErrNoRepository) {
			t.Fatalf("Open: got %v, want ErrNoRepository", err)
		}
		if _, err := repo.CheckMarker(ctx, be); !errors.Is(err, repo.ErrNoRepository) {
			t.Fatalf("CheckMarker: got %v, want ErrNoRepository", err)
		}
	})
	for _, tc := range []struct {
		name, marker string
		want         error
	}{
		{"future version", `{"format":"immich-vault","version":3}`, repo.ErrUnsupportedVersion},
		{"version zero", `{"format":"immich-vault","version":0}`, repo.ErrUnsupportedVersion},
		{"other format", `{"format":"restic","version":1}`, repo.ErrNoRepository},
		{"garbage", `not json`, repo.ErrCorrupt},
	} {
		t.Run("marker "+tc.name, func(t *testing.T) {
			r := repotest.New(t)
			be := r.Backend()
			h := backend.Handle{Type: backend.MarkerFile, Name: backend.MarkerName}
			if err := be.Remove(ctx, h); err != nil {
				t.Fatal(err)
			}
			if err := be.Save(ctx, h, backend.NewByteReader([]byte(tc.marker))); err != nil {
				t.Fatal(err)
			}
			if _, err := repo.CheckMarker(ctx, be); !errors.Is(err, tc.want) {
				t.Fatalf("CheckMarker: got %v, want %v", err, tc.want)
			}
			if _, err := repo.Open(ctx, be, repotest.Password, repotest.Options(t)); !errors.Is(err, tc.want) {
				t.Fatalf("Open: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSaveBlobDedup(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	data := []byte("some blob content")
	var ids [2]repo.ID
	var isNew [2]bool
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		for i := range 2 {
			var err error
			ids[i], isNew[i], err = up.SaveBlob(ctx, pack.DataBlob, data)
			if err != nil {
				return err
			}
		}
		// Same bytes as a tree blob are a different blob.
		_, treeNew, err := up.SaveBlob(ctx, pack.TreeBlob, data)
		if !treeNew {
			t.Errorf("same bytes as tree blob: isNew = false")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !isNew[0] || isNew[1] || ids[0] != ids[1] {
		t.Fatalf("SaveBlob twice: ids %v/%v isNew %v", ids[0].Short(), ids[1].Short(), isNew)
	}
	// Across uploaders: already in the index.
	err = r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		_, n, err := up.SaveBlob(ctx, pack.DataBlob, data)
		if n {
			t.Errorf("SaveBlob in a second uploader: isNew = true")
		}
		if up.Stats.Blobs.Load() != 0 {
			t.Errorf("second uploader stored %d blobs", up.Stats.Blobs.Load())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Stats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blobs != 2 || st.Packs != 2 {
		t.Fatalf("Stats: %d blobs in %d packs, want 2 in 2 (one data, one tree pack)", st.Blobs, st.Packs)
	}
}

func TestSaveBlobConcurrentSameData(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	data := repotest.RandBytes(1, 100<<10)
	var news, stored int64
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		var wg sync.WaitGroup
		var mu sync.Mutex
		errs := make(chan error, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, isNew, err := up.SaveBlob(ctx, pack.DataBlob, data)
				if err != nil {
					errs <- err
					return
				}
				if isNew {
					mu.Lock()
					news++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		stored = up.Stats.Blobs.Load()
		return <-errs
	})
	if err != nil {
		t.Fatal(err)
	}
	if news != 1 || stored != 1 {
		t.Fatalf("16 concurrent SaveBlob: %d reported new, %d stored; want 1 and 1", news, stored)
	}
	st, err := r.Stats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blobs != 1 {
		t.Fatalf("Stats.Blobs = %d, want 1", st.Blobs)
	}
}

func TestCompression(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 5000)
	cases := []struct {
		name string
		data []byte
		want pack.Compression
	}{
		{"text", text, pack.CompressionZstd},
		{"small text", text[:1000], pack.CompressionZstd},
		{"tiny", []byte("abc"), pack.CompressionNone},
		{"random small", repotest.RandBytes(2, 10<<10), pack.CompressionNone},
		{"random large", repotest.RandBytes(3, 512<<10), pack.CompressionNone},
		{"zeros", make([]byte, 256<<10), pack.CompressionZstd},
	}
	blobs := make([][]byte, len(cases))
	for i, c := range cases {
		blobs[i] = c.data
	}
	ids := saveBlobs(t, r, pack.DataBlob, blobs...)
	for i, c := range cases {
		h := pack.BlobHandle{ID: ids[i], Type: pack.DataBlob}
		loc, ok, err := r.Cache().Lookup(ctx, h)
		if err != nil || !ok {
			t.Fatalf("%s: Lookup = %v, %v", c.name, ok, err)
		}
		if loc.Compression != c.want {
			t.Errorf("%s: compression %v, want %v", c.name, loc.Compression, c.want)
		}
		if loc.RawLength != uint32(len(c.data)) {
			t.Errorf("%s: RawLength %d, want %d", c.name, loc.RawLength, len(c.data))
		}
		if c.want == pack.CompressionZstd && int(loc.Length) >= len(c.data) {
			t.Errorf("%s: stored %d bytes for %d compressible bytes", c.name, loc.Length, len(c.data))
		}
		got, err := r.LoadBlob(ctx, h, nil)
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("%s: LoadBlob mismatch (err %v)", c.name, err)
		}
	}
}

func TestPackSizeBoundary(t *testing.T) {
	ctx := context.Background()
	const packSize = 1 << 20
	r := repotest.NewWithOptions(t, repo.Options{PackSize: packSize})
	if r.Config().PackSize != packSize {
		t.Fatalf("PackSize %d, want %d", r.Config().PackSize, packSize)
	}
	var blobs [][]byte
	for i := range 60 {
		blobs = append(blobs, repotest.RandBytes(uint64(100+i), 60<<10+i*97))
	}
	ids := saveBlobs(t, r, pack.DataBlob, blobs...)
	packs := map[repo.ID]int{}
	for i, id := range ids {
		h := pack.BlobHandle{ID: id, Type: pack.DataBlob}
		loc, ok, err := r.Cache().Lookup(ctx, h)
		if err != nil || !ok {
			t.Fatalf("blob %d: Lookup = %v, %v", i, ok, err)
		}
		packs[loc.Pack]++
		got, err := r.LoadBlob(ctx, h, nil)
		if err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d: LoadBlob mismatch (err %v)", i, err)
		}
	}
	// ~3.6 MiB of incompressible data in 1 MiB packs.
	if len(packs) < 3 {
		t.Fatalf("%d packs, want at least 3", len(packs))
	}
	err := r.Backend().List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		if fi.Size > packSize+(80<<10) {
			t.Errorf("pack %s is %d bytes, more than one blob over the target %d", fi.Name[:8], fi.Size, packSize)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Stats(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blobs != int64(len(blobs)) || st.Packs != int64(len(packs)) {
		t.Fatalf("Stats: %d blobs, %d packs; want %d, %d", st.Blobs, st.Packs, len(blobs), len(packs))
	}
}

func TestCacheRebuiltFromIndexFiles(t *testing.T) {
	ctx := context.Background()
	cacheDir := t.TempDir()
	opts := repo.Options{CacheDir: cacheDir, KDF: repotest.KDF, PackSize: 1 << 20}
	r := repotest.InitIn(t, mem.New(), opts)
	be := r.Backend()
	var blobs [][]byte
	for i := range 30 {
		blobs = append(blobs, repotest.RandBytes(uint64(500+i), 50<<10))
	}
	ids := saveBlobs(t, r, pack.DataBlob, blobs[:15]...)
	ids = append(ids, saveBlobs(t, r, pack.TreeBlob, blobs[15:]...)...)
	var nidx int
	if err := be.List(ctx, backend.IndexFile, func(backend.FileInfo) error { nidx++; return nil }); err != nil {
		t.Fatal(err)
	}
	if nidx < 2 {
		t.Fatalf("%d index files after two uploaders, want at least 2", nidx)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(cacheDir); err != nil {
		t.Fatal(err)
	}
	r2 := repotest.Reopen(t, be, opts)
	if n, err := r2.Cache().Count(); err != nil || n != int64(len(blobs)) {
		t.Fatalf("rebuilt cache holds %d blobs (err %v), want %d", n, err, len(blobs))
	}
	for i, id := range ids {
		typ := pack.DataBlob
		if i >= 15 {
			typ = pack.TreeBlob
		}
		got, err := r2.LoadBlob(ctx, pack.BlobHandle{ID: id, Type: typ}, nil)
		if err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d after cache rebuild: mismatch (err %v)", i, err)
		}
	}
	if _, err := os.Stat(cacheDir); err != nil {
		t.Fatalf("cache directory not recreated: %v", err)
	}
}

func TestLoadBlobNotFound(t *testing.T) {
	r := repotest.New(t)
	_, err := r.LoadBlob(context.Background(), pack.BlobHandle{ID: repo.ID{1, 2, 3}, Type: pack.DataBlob}, nil)
	if !errors.Is(err, repo.ErrBlobNotFound) {
		t.Fatalf("got %v, want ErrBlobNotFound", err)
	}
}

func TestWithUploaderErrorStoresNothingVisible(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t)
	boom := errors.New("boom")
	err := r.WithUploader(ctx, func(ctx context.Context, up *repo.Uploader) error {
		if _, _, err := up.SaveBlob(ctx, pack.DataBlob, []byte("x")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithUploader = %v, want boom", err)
	}
	var nidx int
	if err := r.Backend().List(ctx, backend.IndexFile, func(backend.FileInfo) error { nidx++; return nil }); err != nil {
		t.Fatal(err)
	}
	if nidx != 0 {
		t.Fatalf("%d index files written by a failed uploader", nidx)
	}
}
