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

// TestFilesScenariosDiskPlan runs filesScenarios on a small corpus with
// tool doubles and a free space that holds two repositories but not
// three: kopia never runs and the report says why; the corpus is gone
// before the first restore; each repository is removed after its tool's
// restore; nothing of the corpus's is left in the work directory.
func TestFilesScenariosDiskPlan(t *testing.T) {
	dc := dropCaches
	dropCaches = func() bool { return false } // the machine is shared: leave its cache alone
	defer func() { dropCaches = dc }()
	work := t.TempDir()
	dir := filepath.Join(work, "corpusT")
	st, err := corpus.GenerateB(dir, 40, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo := repoEstimate(st.Bytes, st.Files)
	free := 3*repo + diskMargin(3*repo) - 1 // two fit, three do not
	fs := freeSpace
	freeSpace = func(string) (int64, bool) { return free, true }
	defer func() { freeSpace = fs }()

	var seen []string
	var tools []tool
	for _, n := range []string{"immich-vault", "kopia", "restic"} {
		tools = append(tools, &copyTool{name: n, corpus: dir, work: work, seen: &seen})
	}
	c := config{Work: work}
	rep := &report{Machine: map[string]string{"cores": "2"}, Floors: map[string]floors{}, RepoReads: map[string]repoRead{}}
	if err := filesScenarios(c, rep, tools, "T", dir, st, false, false, 1); err != nil {
		t.Fatal(err)
	}
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
	if !strings.Contains(out, "**Not run for lack of disk:** kopia not run on corpus T") {
		t.Errorf("the report does not say that kopia did not run:\n%s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("corpus still there after the scenarios: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(work, "repos")); len(ents) > 0 {
		t.Errorf("left in repos/: %v", ents)
	}
}
