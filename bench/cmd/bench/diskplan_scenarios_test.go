package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/bench/corpus"
)

// copyTool is a tool double for filesScenarios's disk bookkeeping: its
// repository is a copy of the source's files under data/snap (so it takes
// what a real repository of incompressible files takes, the input), its
// restore copies them back. Each restore records what was on disk then.
type copyTool struct {
	name   string
	corpus string // the corpus directory, to see whether it still exists
	work   string
	seen   *[]string
}

func (f *copyTool) Name() string     { return f.name }
func (f *copyTool) Version() string  { return "test" }
func (f *copyTool) Settings() string { return "" }
func (f *copyTool) Init(repo string) error {
	return os.MkdirAll(filepath.Join(repo, "data"), 0o755)
}
func (f *copyTool) Backup(repo, src string) (measurement, error) {
	*f.seen = append(*f.seen, "backup "+f.name)
	snap := filepath.Join(repo, "data", "snap")
	os.RemoveAll(snap)
	return measurement{Wall: 1}, copyTree(snap, src)
}
func (f *copyTool) BackupStdin(repo, name, file string) (measurement, error) {
	return measurement{}, fmt.Errorf("not used")
}
func (f *copyTool) Restore(repo, target string) (measurement, error) {
	var state []string
	if _, err := os.Stat(f.corpus); err == nil {
		state = append(state, "corpus")
	}
	ents, _ := os.ReadDir(filepath.Join(f.work, "repos"))
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".cache") {
			state = append(state, e.Name())
		}
	}
	*f.seen = append(*f.seen, fmt.Sprintf("restore %s with %v", f.name, state))
	return measurement{Wall: 1}, copyTree(target, filepath.Join(repo, "data", "snap"))
}

func copyTree(dst, src string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return copyFile(filepath.Join(dst, rel), p)
	})
}

// runCopyTools runs filesScenarios on a 40-file corpus B named name with
// copyTool doubles of immich-vault, kopia and restic and the given free
// space, and returns what the tools saw, the report and the corpus dir.
func runCopyTools(t *testing.T, c config, name string, free func(st corpus.Stats) int64) ([]string, *report, string) {
	t.Helper()
	dc := dropCaches
	dropCaches = func() bool { return false } // the machine is shared: leave its cache alone
	t.Cleanup(func() { dropCaches = dc })
	c.Work = t.TempDir()
	dir := filepath.Join(c.Work, "corpus"+name)
	st, err := corpus.GenerateB(dir, 40, 1)
	if err != nil {
		t.Fatal(err)
	}
	fs := freeSpace
	freeSpace = func(string) (int64, bool) { return free(st), true }
	t.Cleanup(func() { freeSpace = fs })
	var seen []string
	var tools []tool
	for _, n := range []string{"immich-vault", "kopia", "restic"} {
		tools = append(tools, &copyTool{name: n, corpus: dir, work: c.Work, seen: &seen})
	}
	rep := &report{Config: c, Machine: map[string]string{"cores": "2"}, Floors: map[string]floors{}, RepoReads: map[string]repoRead{}}
	if err := filesScenarios(c, rep, tools, name, dir, st, false, false, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("corpus still there after the scenarios: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.Work, "repos")); len(ents) > 0 {
		t.Errorf("left in repos/: %v", ents)
	}
	return seen, rep, dir
}

// TestFilesScenariosDiskPlan runs filesScenarios on a small corpus with
// tool doubles and a free space that holds two repositories but not
// three: kopia never runs and the report says why; the corpus is gone
// before the first restore; each repository is removed after its tool's
// restore; nothing of the corpus's is left in the work directory.
func TestFilesScenariosDiskPlan(t *testing.T) {
	var free int64
	seen, rep, _ := runCopyTools(t, config{}, "T", func(st corpus.Stats) int64 {
		repo := repoEstimate(st.Bytes, st.Files)
		free = 3*repo + diskMargin(3*repo) - 1 // two fit, three do not
		return free
	})
	want := []string{
		"backup immich-vault", "backup restic", // cold
		"backup immich-vault", "backup restic", // re-scan
		"restore immich-vault with [immich-vault-T restic-T]",
		"restore restic with [restic-T]",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	if len(rep.DiskPlans) != 1 || len(rep.DiskPlans[0].Dropped) != 1 || rep.DiskPlans[0].Dropped[0].Tool != "kopia" {
		t.Fatalf("disk plans %+v: want kopia dropped", rep.DiskPlans)
	}
	if rep.DiskPlans[0].LowestFree != free {
		t.Errorf("lowest free %d, want the (faked) %d", rep.DiskPlans[0].LowestFree, free)
	}
	out := render(rep)
	if !strings.Contains(out, "**Not run for lack of disk:** kopia not run on corpus T: its repository does not fit on the disk") {
		t.Errorf("the report does not say that kopia did not run:\n%s", out)
	}
}

// TestFilesScenariosBigPeers: -b-big-peers restic leaves kopia out of the
// large corpus only, with enough disk for all, and the report says so.
func TestFilesScenariosBigPeers(t *testing.T) {
	c := config{BBig: 40000, BBigPeers: "restic"}
	seen, rep, _ := runCopyTools(t, c, bigBName(c), func(corpus.Stats) int64 { return 1 << 50 })
	for _, s := range seen {
		if strings.Contains(s, "kopia") {
			t.Errorf("kopia ran on the large corpus: %v", seen)
		}
	}
	if !strings.Contains(render(rep), "**Not run:** kopia not run on corpus B40k: left out by -b-big-peers restic.") {
		t.Errorf("the report does not say that kopia was left out:\n%s", render(rep))
	}
	seen, _, _ = runCopyTools(t, c, "B", func(corpus.Stats) int64 { return 1 << 50 })
	if !slices.Contains(seen, "backup kopia") {
		t.Errorf("kopia did not run on corpus B: %v", seen)
	}
}
