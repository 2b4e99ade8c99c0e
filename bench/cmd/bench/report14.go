package main

import (
	"fmt"
	"strings"
	"time"
)

type printer func(f string, a ...any)

// boundPct is the scenario's bound as a percentage of wall time w (100 %
// = as fast as the machine allows).
func boundPct(s *scenario, w time.Duration) string {
	if s.Bound <= 0 || w <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f %%", 100*s.Bound.Seconds()/w.Seconds())
}

func findScenario(rep *report, key string) *scenario {
	for _, s := range rep.Scenarios {
		if s.Key == key {
			return s
		}
	}
	return nil
}

// speedup is tool's median time over immich-vault's (0 when either is
// missing).
func speedup(s *scenario, tool string) float64 {
	if s == nil || len(s.Runs[tool]) == 0 || len(s.Runs["immich-vault"]) == 0 {
		return 0
	}
	o, _, _ := s.med("immich-vault")
	t, _, _ := s.med(tool)
	if o <= 0 {
		return 0
	}
	return t.Seconds() / o.Seconds()
}

func renderSummary(p printer, rep *report, names []string) {
	if len(rep.Scenarios) == 0 {
		return
	}
	peers := []string{}
	for _, n := range names {
		if n != "immich-vault" {
			peers = append(peers, n)
		}
	}
	p("\n### Summary (medians of this run; ×: the peer's time over immich-vault's, above 1 = immich-vault faster)\n\n")
	p("| Scenario | immich-vault s | MB/s | %% of the bound | CPU s / wall s |")
	for _, n := range peers {
		p(" vs %s |", n)
	}
	p(" load at start |\n|---|---|---|---|---|")
	for range peers {
		p("---|")
	}
	p("---|\n")
	for _, s := range rep.Scenarios {
		w, cpu, _ := s.med("immich-vault")
		if w <= 0 {
			continue
		}
		p("| %s | %s | %s | %s | %.2f |", s.Title, secs(w), mbps(float64(s.Bytes)/w.Seconds()), boundPct(s, w), cpu.Seconds()/w.Seconds())
		for _, n := range peers {
			if x := speedup(s, n); x > 0 {
				p(" %.2f× |", x)
			} else {
				p(" — |")
			}
		}
		p(" %s |\n", s.Load)
	}
}

func renderS3Links(p printer, rep *report) {
	if len(rep.S3) == 0 {
		return
	}
	p("\n### S3 raw bound (aws-sdk-go-v2 PUT then GET of the S3 corpus's files, same proxy and connections; before and after the tools, the faster is the bound)\n\n")
	p("| RTT | link | connections | raw PUT MB/s (runs) | raw GET MB/s (runs) | each tool's connection setting |\n|---|---|---|---|---|---|\n")
	for _, l := range rep.S3 {
		rates := func(rs []interface{ Rate() float64 }) string {
			var x []string
			for _, r := range rs {
				x = append(x, fmt.Sprintf("%.1f", r.Rate()/1e6))
			}
			return strings.Join(x, ", ")
		}
		var put, get []interface{ Rate() float64 }
		for _, r := range l.RawPut {
			put = append(put, r)
		}
		for _, r := range l.RawGet {
			get = append(get, r)
		}
		var knobs []string
		for _, n := range []string{"immich-vault", "restic", "kopia"} {
			if k, ok := l.Knobs[n]; ok {
				knobs = append(knobs, n+": `"+k+"`")
			}
		}
		p("| %v | %.0f Mbit/s each way, %d KiB window | %d | %.1f (%s) | %.1f (%s) | %s |\n", l.RTT, l.Rate*8/1e6, l.Window>>10, l.Conns,
			l.BestPut.Rate()/1e6, rates(put), l.BestGet.Rate()/1e6, rates(get), strings.Join(knobs, "; "))
	}
}

func renderFloors(p printer, rep *report) {
	if len(rep.Floors) == 0 {
		return
	}
	p("\n### Measured tree floors (cold page cache; the bounds of re-scans, and of cold backups when slower than the byte-rate limit)\n\n")
	p("| Corpus | directories | files | list + lstat every entry s (goroutines) | read every file s (goroutines) | load before / after |\n|---|---|---|---|---|---|\n")
	for _, name := range []string{"A", "B", bigBName(rep.Config), "D"} {
		f, ok := rep.Floors[name]
		if !ok {
			continue
		}
		p("| %s | %d | %d | %s (%d) | %s (%d) | %s / %s |\n", name, f.Dirs, f.Files, secs(f.Walk), f.WalkWorkers, secs(f.Read), f.ReadWorkers, f.LoadBefore, f.LoadWhen)
	}
}

// renderNightly extrapolates the no-change re-scan of the largest corpus B
// measured (the large run when there was one) to a library of 3 M
// generated files (1–1.5 M assets), linearly per file: the larger the
// measured tree, the shorter the extrapolation.
func renderNightly(p printer, rep *report) {
	var largest *scenario
	for _, s := range rep.Scenarios {
		if strings.HasPrefix(s.Key, "rescanB") && (largest == nil || s.Files > largest.Files) {
			largest = s
		}
	}
	if largest == nil {
		return
	}
	ss := []*scenario{largest}
	const target = 3_000_000
	p("\n### Nightly no-change run at 3 M files, extrapolated from the re-scan of corpus %s, the largest measured (per-file cost × 3 M, cold cache)\n\n", strings.TrimPrefix(largest.Key, "rescan"))
	p("Linear in the file count: it assumes each file costs what it cost in the measured run (the directory fan-out stays Immich's, so files per directory grow with the library). Measured, not extrapolated, figures are in the re-scan tables above.\n\n")
	p("| Measured at | tool | per file µs | at 3 M files | floor (list + lstat) at 3 M |\n|---|---|---|---|---|\n")
	for _, s := range ss {
		for _, t := range rep.Tools {
			w, _, _ := s.med(t.Name)
			if w <= 0 || s.Files == 0 {
				continue
			}
			per := w.Seconds() / float64(s.Files)
			floor := "—"
			if s.Bound > 0 {
				floor = (time.Duration(s.Bound.Seconds() / float64(s.Files) * target * float64(time.Second))).Round(time.Second).String()
			}
			p("| %d files | %s | %.1f | %s | %s |\n", s.Files, t.Name, per*1e6, time.Duration(per*target*float64(time.Second)).Round(time.Second), floor)
		}
	}
}

// reachable says whether a target of being want times faster than peer
// in scenario s can be met on this machine at all: the time it asks for
// (the peer's median over want) against the scenario's physical bound.
// "—" when there is no bound or no peer run.
func reachable(s *scenario, peer string, want float64) string {
	if s == nil || s.Bound <= 0 || len(s.Runs[peer]) == 0 {
		return "—"
	}
	t, _, _ := s.med(peer)
	need := time.Duration(t.Seconds() / want * float64(time.Second))
	if need >= s.Bound {
		return fmt.Sprintf("yes: it needs %s s, the bound is %s s", secs(need), secs(s.Bound))
	}
	return fmt.Sprintf("**no**: it needs %s s, under the bound of %s s; at the bound it would be %.2f×", secs(need), secs(s.Bound), t.Seconds()/s.Bound.Seconds())
}

// renderTargets14 checks issue 14's targets; every miss says by how much,
// and every ratio target whether this machine's bound allows it at all.
func renderTargets14(p printer, rep *report) {
	p("\n### Targets (issue 14), medians of this run\n\n")
	p("Reachable: whether the time a ratio target asks for (the peer's median over the ratio) is at or above the scenario's physical bound; a target under the bound cannot be met on this machine by any tool.\n\n")
	p("| Target | Measured | Met | Missed by | Reachable on this machine |\n|---|---|---|---|---|\n")
	row := func(name string, ok bool, measured, missed string, reach ...string) {
		m := "no"
		if ok {
			m, missed = "yes", "—"
		}
		r := "—"
		if len(reach) > 0 {
			r = reach[0]
		}
		p("| %s | %s | %s | %s | %s |\n", name, measured, m, missed, r)
	}
	pct := func(key, title string, want float64) {
		s := findScenario(rep, key)
		if s == nil || s.Bound <= 0 {
			return
		}
		w, _, _ := s.med("immich-vault")
		if w <= 0 {
			return
		}
		f := s.Bound.Seconds() / w.Seconds()
		need := time.Duration(s.Bound.Seconds() / want * float64(time.Second))
		row(fmt.Sprintf("%s ≥ %.0f %% of the bound", title, want*100), f >= want, fmt.Sprintf("%.0f %% (%s s; bound %s s)", f*100, secs(w), secs(s.Bound)),
			fmt.Sprintf("%.0f percentage points (%s s slower than %s s)", (want-f)*100, secs(w-need), secs(need)))
	}
	// notRunRow: a ratio target whose peer the disk plan did not run on
	// the corpus gets a row saying so instead of none.
	notRunRow := func(s *scenario, corpus, title, peer string) bool {
		if s == nil || len(s.Runs[peer]) > 0 {
			return false
		}
		why := notRun(rep, corpus, peer)
		if why == "" {
			return false
		}
		p("| %s | not measured: %s | — | — | — |\n", title, why)
		return true
	}
	faster := func(key, title, peer string, want float64) {
		s := findScenario(rep, key)
		if notRunRow(s, strings.TrimPrefix(strings.TrimPrefix(key, "cold"), "restore"), fmt.Sprintf("%s ≥ %.0f× %s", title, want, peer), peer) {
			return
		}
		x := speedup(s, peer)
		if x == 0 {
			return
		}
		row(fmt.Sprintf("%s ≥ %.0f× %s", title, want, peer), x >= want, fmt.Sprintf("%.2f×", x), fmt.Sprintf("%.0f %%", 100*(want-x)/want), reachable(s, peer, want))
	}
	pct("coldA", "Cold backup A", 0.85)
	pct("restoreA", "Restore A", 0.85)
	b := bigBName(rep.Config)
	if findScenario(rep, "cold"+b) == nil && findScenario(rep, "rescan"+b) == nil && findScenario(rep, "restore"+b) == nil {
		b = "B" // no large run: the targets are checked on the 50k corpus
	}
	faster("cold"+b, "Cold backup "+b, "restic", 3)
	if s := findScenario(rep, "rescan"+b); !notRunRow(s, b, "No-change re-scan "+b+" ≤ ¼ of restic's time", "restic") && speedup(s, "restic") > 0 {
		x := speedup(s, "restic")
		row("No-change re-scan "+b+" ≤ ¼ of restic's time", x >= 4, fmt.Sprintf("%.2f of restic's time", 1/x), fmt.Sprintf("%.2f of restic's time too much", 1/x-0.25), reachable(s, "restic", 4))
	}
	faster("restore"+b, "Restore "+b, "restic", 3)
	for _, l := range rep.S3 {
		ms := l.RTT.Milliseconds()
		for _, x := range []struct{ key, what string }{{"s3backup", "backup ≥ 80 % of raw PUT"}, {"s3restore", "restore ≥ 80 % of raw GET"}} {
			s := findScenario(rep, fmt.Sprintf("%s%d", x.key, ms))
			if s == nil || s.Bound <= 0 {
				continue
			}
			w, _, _ := s.med("immich-vault")
			if w <= 0 {
				continue
			}
			f := s.Bound.Seconds() / w.Seconds()
			row(fmt.Sprintf("S3 at %d ms: %s", ms, x.what), f >= 0.8, fmt.Sprintf("%.0f %%", f*100), fmt.Sprintf("%.0f percentage points", (0.8-f)*100))
		}
	}
	faster("coldD", "Cold backup D (compressible)", "restic", 2)
	if s := findScenario(rep, "coldD"); s != nil {
		w, cpu, _ := s.med("immich-vault")
		if w > 0 {
			busy := cpu.Seconds() / w.Seconds()
			cores := float64(coresOf(rep))
			row("Cold backup D on all cores", busy >= 0.85*cores, fmt.Sprintf("%.2f of %d cores busy", busy, int(cores)), fmt.Sprintf("%.2f cores idle", cores-busy))
		}
	}
}
