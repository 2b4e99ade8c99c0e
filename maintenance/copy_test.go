package maintenance_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// copyCorpus writes a small tree with incompressible and compressible
// files, a duplicate, and nested directories.
func copyCorpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	files := map[string]string{
		"photos/2024/a.jpg":   string(big),
		"photos/2024/dup.jpg": string(big),
		"photos/2025/b.jpg":   string(big[:1<<20]) + "tail",
		"db/dump.sql":         string(make([]byte, 200<<10)) + "INSERT INTO t VALUES (1);\n",
		"notes.txt":           "hello\n",
		"link":                "->notes.txt",
	}
	repotest.WriteFiles(t, dir, files)
	return dir
}

func copyAll(t *testing.T, dst, src *repo.Repository) *maintenance.CopyStats {
	t.Helper()
	snaps, err := src.Snapshots(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := maintenance.Copy(context.Background(), dst, src, snaps, maintenance.CopyOptions{})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	return st
}

func checkOK(t *testing.T, r *repo.Repository) {
	t.Helper()
	res, err := r.Check(context.Background(), repo.CheckOptions{ReadData: true})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !res.OK() {
		t.Fatalf("Check found problems: %v %v", res.Problems, res.Damaged)
	}
}

// restoreCompare restores the newest snapshot of r and compares it with
// want (a readTree of the source directory).
func restoreCompare(t *testing.T, r *repo.Repository, want map[string]string) {
	t.Helper()
	snaps, err := r.Snapshots(context.Background(), nil)
	if err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots: %v (%d)", err, len(snaps))
	}
	target := filepath.Join(t.TempDir(), "out")
	repotest.Restore(t, r, snaps[len(snaps)-1], restorer.RestoreOptions{Target: target})
	// The snapshot stores the absolute source path: compare below it.
	repotest.DiffTrees(t, want, trimPrefixTree(t, repotest.ReadTree(t, target)))
}

// trimPrefixTree strips the leading directories that an absolute source
// path leaves in a restored tree, down to the corpus root.
func trimPrefixTree(t *testing.T, got map[string]string) map[string]string {
	t.Helper()
	prefix := ""
	for k := range got {
		if i := indexOf(k, "/photos/2024/a.jpg"); i >= 0 {
			prefix = k[:i+1]
		}
	}
	out := map[string]string{}
	for k, v := range got {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix && k != prefix[:max(len(prefix)-1, 0)] {
			out[k[len(prefix):]] = v
		}
	}
	return out
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestCopyDifferentKeys(t *testing.T) {
	srcBe := faulty.New(mem.New())
	src := repotest.InitIn(t, srcBe, repotest.Options(t))
	dir := copyCorpus(t)
	want := repotest.ReadTree(t, dir)
	s1 := repotest.Backup(t, src, archiver.BackupOptions{Paths: []string{dir}, Tags: []string{"t1"}})

	dstBe := faulty.New(mem.New())
	dst := repotest.InitIn(t, dstBe, repotest.Options(t))
	if maintenance.SharesKeyWith(src, dst) {
		t.Fatal("two fresh repositories share a key")
	}
	st := copyAll(t, dst, src)
	if st.SnapshotsCopied != 1 || !st.Rehashed || st.BlobsCopied == 0 {
		t.Fatalf("first copy: %+v", st)
	}
	checkOK(t, dst)
	restoreCompare(t, dst, want)

	// The copy records its origin and keeps tags; its tree has new IDs.
	snaps, _ := dst.Snapshots(context.Background(), nil)
	var o maintenance.CopyOrigin
	if err := json.Unmarshal(snaps[0].Metadata[maintenance.CopyMetadataKey], &o); err != nil || o.SourceSnapshot != s1.ID() || o.SourceRepository != src.Config().ID {
		t.Fatalf("origin %+v (%v)", o, err)
	}
	if !snaps[0].HasTag("t1") || snaps[0].Tree == s1.Tree {
		t.Fatalf("copied snapshot tags %v tree %s (source %s)", snaps[0].Tags, snaps[0].Tree.Short(), s1.Tree.Short())
	}

	// Re-run: nothing to do.
	st = copyAll(t, dst, src)
	if st.SnapshotsCopied != 0 || st.SnapshotsSkipped != 1 || st.BlobsCopied != 0 {
		t.Fatalf("second copy: %+v", st)
	}

	// A new snapshot with one changed file: only its new blobs travel, and
	// the unchanged data is not even downloaded (the ID mapping is cached).
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want = repotest.ReadTree(t, dir)
	repotest.Backup(t, src, archiver.BackupOptions{Paths: []string{dir}, Parent: s1})
	var downloaded atomic.Int64
	srcBe.SetLoadWrap(func(h backend.Handle, rd io.Reader) io.Reader { return &countingReader{rd, &downloaded} })
	st = copyAll(t, dst, src)
	srcBe.Reset()
	if st.SnapshotsCopied != 1 || st.SnapshotsSkipped != 1 {
		t.Fatalf("third copy: %+v", st)
	}
	if st.BytesCopied > 100 {
		t.Fatalf("third copy sent %d plaintext bytes, want only the changed file", st.BytesCopied)
	}
	// Trees and the one changed file, not the 4 MiB of unchanged data.
	if n := downloaded.Load(); n > 64<<10 {
		t.Fatalf("third copy downloaded %d bytes from the source", n)
	}
	checkOK(t, dst)
	restoreCompare(t, dst, want)
}

type countingReader struct {
	rd io.Reader
	n  *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rd.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestCopySharedKey(t *testing.T) {
	src := repotest.New(t)
	dir := copyCorpus(t)
	want := repotest.ReadTree(t, dir)
	s1 := repotest.Backup(t, src, archiver.BackupOptions{Paths: []string{dir}})

	opts := repotest.Options(t)
	opts.ShareKeyWith = src
	opts.ChunkerProfiles = src.Config().Chunker.Profiles
	dst := repotest.InitIn(t, mem.New(), opts)
	if !maintenance.SharesKeyWith(src, dst) || dst.Config().ID == src.Config().ID {
		t.Fatal("shared-key repository: wrong key or same ID")
	}
	st := copyAll(t, dst, src)
	if st.Rehashed || st.SnapshotsCopied != 1 {
		t.Fatalf("copy: %+v", st)
	}
	snaps, _ := dst.Snapshots(context.Background(), nil)
	if snaps[0].Tree != s1.Tree {
		t.Fatalf("tree rewritten with a shared key: %s, want %s", snaps[0].Tree.Short(), s1.Tree.Short())
	}
	checkOK(t, dst)
	restoreCompare(t, dst, want)
	// Dedup holds: backing up the same files into dst adds no data blobs.
	sn := repotest.Backup(t, dst, archiver.BackupOptions{Paths: []string{dir}})
	if sn.Summary == nil || sn.Summary.DataBlobs != 0 {
		t.Fatalf("backup into the shared-key copy stored new data: %+v", sn.Summary)
	}
}

var errInjected = errors.New("injected: network down")

func TestCopyInterruptedResumes(t *testing.T) {
	src := repotest.New(t)
	dir := copyCorpus(t)
	want := repotest.ReadTree(t, dir)
	repotest.Backup(t, src, archiver.BackupOptions{Paths: []string{dir}})

	dstBe := faulty.New(mem.New())
	opts := repotest.Options(t)
	opts.PackSize = 1 << 20 // several packs
	dst := repotest.InitIn(t, dstBe, opts)
	// The third pack upload fails: the first packs are stored, no snapshot.
	var packs atomic.Int32 // uploads run in parallel
	dstBe.SetSaveErr(func(h backend.Handle) error {
		if h.Type == backend.PackFile {
			if packs.Add(1) == 3 {
				return errInjected
			}
		}
		return nil
	})
	snaps, _ := src.Snapshots(context.Background(), nil)
	// WithUploader may report the cancellation its failed worker caused
	// rather than the worker's error: any error will do here.
	if _, err := maintenance.Copy(context.Background(), dst, src, snaps, maintenance.CopyOptions{Fetchers: 1}); err == nil {
		t.Fatal("Copy succeeded although a pack upload failed")
	}
	if packs.Load() < 3 {
		t.Fatalf("only %d pack uploads attempted", packs.Load())
	}
	if got, _ := dst.Snapshots(context.Background(), nil); len(got) != 0 {
		t.Fatalf("interrupted copy left %d snapshots", len(got))
	}
	checkOK(t, dst)

	dstBe.Reset()
	st := copyAll(t, dst, src)
	if st.SnapshotsCopied != 1 {
		t.Fatalf("resumed copy: %+v", st)
	}
	checkOK(t, dst)
	restoreCompare(t, dst, want)
}
