package archiver_test

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// A space gate (the command's free-space check) is asked with the bytes
// of the files changed since SpaceSince, exclusions applied, and until it
// answers nothing is written to the repository: not the stream that is
// saved first, not a pack's temporary file, not a snapshot, also when the
// backup stores no new blob at all. Its refusal is the backup's error.
func TestSpaceGateHoldsEveryWrite(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.NewLocal(t)
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(name string, size int) {
		t.Helper()
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, random(size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("old", 100<<10)
	if err := os.Chtimes(filepath.Join(src, "old"), old, old); err != nil {
		t.Fatal(err)
	}
	// The parent backup (SpaceSince) came after "old" was written and
	// before the others (margins: the kernel's ctime clock may lag the
	// wall clock by a tick).
	time.Sleep(50 * time.Millisecond)
	since := time.Now()
	time.Sleep(50 * time.Millisecond)
	write("new", 200<<10)
	write("skip/excluded", 300<<10)
	// "new" is an Immich upload: Immich sets its modification time to the
	// photo's own, years before the parent; its ctime says it is new.
	if err := os.Chtimes(filepath.Join(src, "new"), old, old); err != nil {
		t.Fatal(err)
	}
	ex, err := data.NewFilter([]string{"skip"})
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("no room on the backup disk")
	var mu sync.Mutex
	var asked []int64
	gate := func(answer error, delay time.Duration) func(int64) error {
		return func(changed int64) error {
			time.Sleep(delay)
			mu.Lock()
			asked = append(asked, changed)
			mu.Unlock()
			return answer
		}
	}
	opts := func(g func(int64) error, since time.Time) archiver.BackupOptions {
		return archiver.BackupOptions{
			Paths:      []string{src},
			Exclude:    ex,
			Streams:    []archiver.Stream{{Path: "/db.sql", Reader: strings.NewReader(strings.Repeat("INSERT INTO t VALUES (1);\n", 40000))}},
			Host:       "h",
			SpaceGate:  g,
			SpaceSince: since,
		}
	}
	stored := func() []string {
		var l []string
		filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				l = append(l, p)
			}
			return nil
		})
		return l
	}

	// Refused: the error as is, nothing stored.
	_, err = archiver.Backup(ctx, r, opts(gate(refused, 0), since))
	if err != refused {
		t.Fatalf("refused backup: %v; want the gate's error as is", err)
	}
	if l := stored(); len(l) > 0 {
		t.Fatalf("written before the gate answered: %v", l)
	}
	if ids, err := r.SnapshotIDs(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("snapshots after a refusal: %v, %v", ids, err)
	}
	if len(asked) != 1 || asked[0] != 200<<10 {
		t.Fatalf("gate asked with %v; want once with %d (the file changed since, not the old or the excluded one)", asked, 200<<10)
	}

	// Allowed, after a delay (the backup's own walk ends first): the
	// backup goes on; with no SpaceSince every file counts.
	asked = nil
	first, err := archiver.Backup(ctx, r, opts(gate(nil, 200*time.Millisecond), time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != 300<<10 {
		t.Fatalf("gate asked with %v; want once with %d", asked, 300<<10)
	}
	if len(stored()) == 0 {
		t.Fatal("nothing stored by the allowed backup")
	}

	// The walk ahead held back until the backup's walk has ended (the
	// stream and the files wait at the gate): it still runs to its end
	// and counts every file, a file given as a path of its own included.
	lone := filepath.Join(t.TempDir(), "lone")
	if err := os.WriteFile(lone, random(50<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	archiver.DelayPrewalkForTest(t, 300*time.Millisecond)
	asked = nil
	o := opts(gate(nil, 0), since)
	o.Paths = append(o.Paths, lone)
	if _, err := archiver.Backup(ctx, r, o); err != nil {
		t.Fatalf("backup with the walk ahead behind: %v", err)
	}
	if len(asked) != 1 || asked[0] != 250<<10 {
		t.Fatalf("gate asked with %v; want once with %d (new and lone)", asked, 250<<10)
	}

	// Nothing new to store (no stream, whose time changes its tree):
	// the snapshot is still held, and refused; the walk ahead, still
	// held back, starts after the backup's walk has ended and still
	// counts.
	o = opts(nil, since)
	o.Streams, o.Parent = nil, first
	second, err := archiver.Backup(ctx, r, o)
	if err != nil {
		t.Fatal(err)
	}
	asked = nil
	n := len(stored())
	before, _ := r.SnapshotIDs(ctx)
	o = opts(gate(refused, 0), since)
	o.Streams, o.Parent = nil, second
	if _, err := archiver.Backup(ctx, r, o); err != refused {
		t.Fatalf("refused backup with nothing new: %v", err)
	}
	if ids, _ := r.SnapshotIDs(ctx); len(ids) != len(before) || len(stored()) != n {
		t.Fatalf("after a refused backup with nothing new: %d snapshots, %d files (want %d, %d)", len(ids), len(stored()), len(before), n)
	}
	if len(asked) != 1 {
		t.Fatalf("gate asked %d times", len(asked))
	}

	// A dry run asks no gate.
	asked = nil
	o = opts(gate(refused, 0), since)
	o.DryRun = true
	if _, err := archiver.Backup(ctx, r, o); err != nil || len(asked) != 0 {
		t.Fatalf("dry run: %v, gate asked %v", err, asked)
	}
}

// A failure of the backup's own walk (here a stream whose dump command
// failed) stops the walk ahead and is the backup's error: the gate, which
// would refuse, is not asked with a partial count, and its refusal does
// not replace the cause.
func TestSpaceGateWalkFailureIsTheError(t *testing.T) {
	r, _ := repotest.NewLocal(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	archiver.DelayPrewalkForTest(t, 500*time.Millisecond)
	dumpFailed := errors.New("dump failed")
	var asked bool
	_, err := archiver.Backup(context.Background(), r, archiver.BackupOptions{
		Paths:     []string{src},
		Streams:   []archiver.Stream{{Path: "/db.sql", Reader: strings.NewReader(""), Done: func() error { return dumpFailed }}},
		Host:      "h",
		SpaceGate: func(int64) error { asked = true; return errors.New("refused") },
	})
	if !errors.Is(err, dumpFailed) {
		t.Fatalf("backup: %v; want the dump's failure", err)
	}
	if asked {
		t.Error("the gate was asked after the walk failed")
	}
}
