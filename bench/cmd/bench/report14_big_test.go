package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRenderNightlyLargest: with corpus B (50k) and the large run B500k
// both measured, the 3 M-file extrapolation uses B500k only (6× instead of
// 60× the measured tree), and says which corpus it used.
func TestRenderNightlyLargest(t *testing.T) {
	s := time.Second
	rep := &report{
		Config: config{BBig: 500000},
		Tools:  []toolInfo{{Name: "immich-vault"}, {Name: "restic"}},
		Scenarios: []*scenario{
			{Key: "rescanB", Files: 50000, Bound: 2 * s, Runs: map[string][]measurement{"immich-vault": runsOf(4 * s), "restic": runsOf(6 * s)}},
			{Key: "rescanB500k", Files: 500000, Bound: 25 * s, Runs: map[string][]measurement{"immich-vault": runsOf(50 * s), "restic": runsOf(60 * s)}},
		},
	}
	var b strings.Builder
	renderNightly(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }, rep)
	out := b.String()
	for _, want := range []string{
		"extrapolated from the re-scan of corpus B500k, the largest measured",
		"| 500000 files | immich-vault | 100.0 | 5m0s | 2m30s |",
		"| 500000 files | restic | 120.0 | 6m0s | 2m30s |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| 50000 files |") {
		t.Errorf("the 50k corpus is extrapolated too:\n%s", out)
	}
}
