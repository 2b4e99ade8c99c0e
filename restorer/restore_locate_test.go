package restorer_test

import (
	"fmt"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// The plan looks the blobs of a batch's files up in groups (locate.go):
// with groups of at most 3 blobs, files of 0, 1 and many blobs, skipped
// (already restored) files among them, and a file larger than a group,
// every file is restored from its own blobs.
func TestRestoreLocateGroups(t *testing.T) {
	r, _ := repotest.NewLocal(t)
	rnd := repotest.RandBytes(5, 3<<20)
	files := map[string]string{}
	for i := range 40 {
		size := 0
		switch i % 4 {
		case 1:
			size = 100 + i
		case 2:
			size = 5000 + 97*i
		case 3:
			size = 1<<20 + 4099*i // several blobs
		}
		files[fmt.Sprintf("d%d/f%02d", i%3, i)] = string(rnd[i*1000 : i*1000+size])
	}
	src := t.TempDir()
	repotest.WriteFiles(t, src, files)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	defer restorer.SetLocateGroup(3)()

	target := t.TempDir()
	res := repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target, SubPath: src})
	if res.Errors != 0 || len(res.Damaged) != 0 {
		t.Fatalf("restore: %+v", res)
	}
	want := repotest.ReadTree(t, src)
	repotest.DiffTrees(t, want, repotest.ReadTree(t, target))

	// Again over half of the files (the others are skipped as correct).
	target2 := t.TempDir()
	half := map[string]string{}
	for i := 0; i < 40; i += 2 {
		name := fmt.Sprintf("d%d/f%02d", i%3, i)
		half[name] = files[name]
	}
	repotest.WriteFiles(t, target2, half)
	res = repotest.Restore(t, r, sn, restorer.RestoreOptions{Target: target2, SubPath: src, Overwrite: restorer.OverwriteIfChanged})
	if res.Errors != 0 || len(res.Damaged) != 0 {
		t.Fatalf("second restore: %+v", res)
	}
	repotest.DiffTrees(t, want, repotest.ReadTree(t, target2))
}
