package ops

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMetricsFileShared: run, immich backup and the plain commands write
// one metrics file (the configuration's metrics_file); each replaces its
// own samples and keeps the others', every family stays one group under a
// single HELP/TYPE, and a failed command keeps its last success time.
func TestMetricsFileShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iv.prom")
	t0 := time.Unix(1_800_000_000, 0)
	if err := WriteRunMetrics(path, RunMetrics{Start: t0, Duration: time.Minute, Success: true,
		Steps: []StepMetrics{{Step: "backup", Status: "ok", End: t0, Duration: time.Second}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"check", "forget"} {
		if err := WriteCommandMetrics(path, CommandMetrics{Command: c, Start: t0, Duration: time.Second, Success: true}); err != nil {
			t.Fatal(err)
		}
	}
	// check fails an hour later: its exit code changes, its success time stays.
	if err := WriteCommandMetrics(path, CommandMetrics{Command: "check", Start: t0.Add(time.Hour), Duration: time.Second, ExitCode: 12}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMetrics(path, Metrics{Start: t0, Duration: time.Second, Success: true, Files: 3}); err != nil {
		t.Fatal(err)
	}
	if err := WriteRunMetrics(path, RunMetrics{Start: t0.Add(2 * time.Hour), Duration: time.Minute, ExitCode: 10,
		Steps: []StepMetrics{{Step: "copy:x", Status: "failed", ExitCode: 10, End: t0, Duration: time.Second}}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	m := ParseMetrics(b)
	want := map[string]float64{
		`immich_vault_command_exit_status{command="check"}`:                    12,
		`immich_vault_command_last_success_timestamp_seconds{command="check"}`: float64(t0.Unix() + 1),
		`immich_vault_command_exit_status{command="forget"}`:                   0,
		`immich_vault_run_exit_status`:                                         10,
		`immich_vault_run_last_success_timestamp_seconds`:                      float64(t0.Unix() + 60),
		`immich_vault_step_exit_status{step="copy:x"}`:                         10,
		`immich_vault_backup_files`:                                            3,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v\n%s", k, got, ok, v, b)
		}
	}
	if _, ok := m[`immich_vault_step_exit_status{step="backup"}`]; ok {
		t.Errorf("run kept a step of its previous run (it owns immich_vault_step_*):\n%s", b)
	}
	help := map[string]int{}
	last := ""
	closed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if f[0] == "#" {
			if f[1] == "HELP" {
				help[f[2]]++
			}
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		if name != last {
			if closed[name] {
				t.Errorf("family %s split in two groups:\n%s", name, b)
			}
			closed[last], last = true, name
		}
	}
	for n, c := range help {
		if c != 1 {
			t.Errorf("HELP of %s %d times:\n%s", n, c, b)
		}
	}
}

// TestMetricsFileConcurrentWriters: commands ending at once (a daemon job
// beside a manual check) each read, merge and replace the shared file;
// none may lose another's samples.
func TestMetricsFileConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iv.prom")
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := WriteCommandMetrics(path, CommandMetrics{Command: fmt.Sprintf("c%d", i), Start: time.Now(), Success: true}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(path)
	m := ParseMetrics(b)
	var lost []string
	for i := range n {
		if _, ok := m[fmt.Sprintf(`immich_vault_command_exit_status{command="c%d"}`, i)]; !ok {
			lost = append(lost, fmt.Sprintf("c%d", i))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d writers' samples lost: %v\n%s", len(lost), n, lost, b)
	}
}
