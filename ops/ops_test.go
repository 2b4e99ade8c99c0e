package ops

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRequireMount(t *testing.T) {
	dir := t.TempDir()
	if err := RequireMount(dir, "/"); err != nil && !errors.Is(err, ErrWrongMount) {
		t.Fatal(err)
	}
	// A plain directory is never a mount point: an unmounted disk.
	sub := filepath.Join(dir, "usb")
	os.Mkdir(sub, 0o755)
	if err := RequireMount(sub, sub); !errors.Is(err, ErrWrongMount) {
		t.Errorf("plain directory accepted as mount: %v", err)
	}
	// /proc is a mount point but dir is not on it.
	if err := RequireMount(dir, "/proc"); !errors.Is(err, ErrWrongMount) {
		t.Errorf("wrong file system accepted: %v", err)
	}
	if err := RequireUUID(dir, "0000-no-such-uuid", t.TempDir()); !errors.Is(err, ErrWrongMount) {
		t.Errorf("missing uuid accepted: %v", err)
	}
}

func TestMetricsKeepLastSuccess(t *testing.T) {
	p := filepath.Join(t.TempDir(), "immich_vault.prom")
	t0 := time.Unix(1_700_000_000, 0)
	if err := WriteMetrics(p, Metrics{Start: t0, Duration: 10 * time.Second, Success: true, BytesAdded: 5}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMetrics(p, Metrics{Start: t0.Add(time.Hour), Duration: time.Second, ExitCode: 1}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	m := ParseMetrics(b)
	if m[metricPrefix+"last_success_timestamp_seconds"] != 1_700_000_010 || m[metricPrefix+"exit_status"] != 1 || m[metricPrefix+"last_run_timestamp_seconds"] != 1_700_003_601 {
		t.Fatalf("%s", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestWaitQuiet(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), nil, 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "a"), old, old)
	os.Chtimes(dir, old, old)
	ok, _, err := WaitQuiet(t.Context(), []string{dir}, time.Minute, time.Second, 10*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("quiet dir: %v %v", ok, err)
	}
	os.WriteFile(filepath.Join(dir, "b"), nil, 0o644) // just changed
	ok, waited, err := WaitQuiet(t.Context(), []string{dir}, time.Hour, 200*time.Millisecond, 20*time.Millisecond)
	if err != nil || ok || waited < 200*time.Millisecond {
		t.Fatalf("busy dir: ok=%v waited=%v err=%v", ok, waited, err)
	}
}
