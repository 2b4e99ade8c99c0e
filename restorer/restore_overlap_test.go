package restorer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// The packs' reads do not wait for every file of the batch to be created:
// with the creation of one file held, ranges start (here the held file's
// own, which then wait for it). A restore that created all files before
// reading any pack waits out the two minutes and fails here. Both files
// come out byte-identical once the creation is let go.
func TestRestoreReadsPacksWhileFilesAreCreated(t *testing.T) {
	dir := t.TempDir()
	be, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := repotest.Options(t)
	opts.PackSize = 1 << 20
	opts.ChunkerProfiles = repo.DefaultChunkerProfiles()
	opts.ChunkerProfiles[repo.ProfileData] = chunker.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}
	r := repotest.InitIn(t, be, opts)
	src := filepath.Join(t.TempDir(), "src")
	a, z := repotest.RandBytes(3, 3<<20), repotest.RandBytes(4, 3<<20)
	repotest.WriteFiles(t, src, map[string]string{"a.bin": string(a), "z.bin": string(z)})
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})

	rangeStarted := make(chan struct{})
	var once sync.Once
	defer restorer.SetRangeTesting(256<<10, func(repo.ID, int64, int64) func() {
		once.Do(func() { close(rangeStarted) })
		return func() {}
	})()
	held := make(chan bool, 1)
	defer restorer.SetCreateHook(func(rel string) {
		if filepath.Base(rel) != "a.bin" {
			return
		}
		select {
		case <-rangeStarted:
			held <- true
		case <-time.After(2 * time.Minute):
			held <- false
		}
	})()

	target := t.TempDir()
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	if res.Files != 2 || len(res.Damaged) != 0 || res.Errors != 0 {
		t.Fatalf("restore result %+v", res)
	}
	if !<-held {
		t.Errorf("no pack range started while a.bin's creation was held for two minutes: the packs waited for every file of the batch")
	}
	for name, want := range map[string][]byte{"a.bin": a, "z.bin": z} {
		got, err := os.ReadFile(filepath.Join(target, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes restored, want %d identical (%v)", name, len(got), len(want), err)
		}
	}
}
