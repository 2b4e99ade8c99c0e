package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/s3raw"
)

func runsOf(ds ...time.Duration) []measurement {
	var m []measurement
	for _, d := range ds {
		m = append(m, measurement{Wall: d, CPU: d})
	}
	return m
}

// TestRenderTargets14 renders a synthetic report: percentages of the
// bound, ratios against restic, the misses and the 3 M-file extrapolation.
func TestRenderTargets14(t *testing.T) {
	s := time.Second
	rep := &report{
		Config:  config{BBig: 300000},
		Machine: map[string]string{"cores": "2"},
		Tools:   []toolInfo{{Name: "immich-vault"}, {Name: "restic"}},
		Scenarios: []*scenario{
			{Key: "coldA", Title: "Cold backup of corpus A", Bytes: 1e9, Bound: 9 * s,
				Runs: map[string][]measurement{"immich-vault": runsOf(10*s, 11*s, 9*s), "restic": runsOf(40 * s)}},
			{Key: "rescanB300k", Title: "No-change re-scan of corpus B300k", Files: 300000, Bound: 12 * s,
				Runs: map[string][]measurement{"immich-vault": runsOf(30 * s), "restic": runsOf(60 * s)}},
			{Key: "coldB300k", Title: "Cold backup of corpus B300k", Files: 300000, Bound: 15 * s,
				Runs: map[string][]measurement{"immich-vault": runsOf(20 * s), "restic": runsOf(40 * s)}},
			{Key: "s3restore80", Title: "Restore from S3", Bytes: 1e9, Bound: 20 * s,
				Runs: map[string][]measurement{"immich-vault": runsOf(40 * s)}},
		},
		S3: []*s3Link{{RTT: 80 * time.Millisecond, BestGet: s3raw.Result{Time: 20 * s, Bytes: 1e9}}},
	}
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	renderTargets14(p, rep)
	renderNightly(p, rep)
	out := b.String()
	for _, want := range []string{
		"| Cold backup A ≥ 85 % of the bound | 90 % (10.00 s; bound 9.00 s) | yes | — |",
		"| No-change re-scan B300k ≤ ¼ of restic's time | 0.50 of restic's time | no | 0.25 of restic's time too much | yes: it needs 15.00 s, the bound is 12.00 s |",
		"| Cold backup B300k ≥ 3× restic | 2.00× | no | 33 % | **no**: it needs 13.33 s, under the bound of 15.00 s; at the bound it would be 2.67× |",
		"| S3 at 80 ms: restore ≥ 80 % of raw GET | 50 % | no | 30 percentage points |",
		"| 300000 files | immich-vault | 100.0 | 5m0s | 2m0s |",
		"| 300000 files | restic | 200.0 | 10m0s | 2m0s |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if got := boundPct(rep.Scenarios[0], 0); got != "—" {
		t.Errorf("boundPct of no time: %q", got)
	}
}
