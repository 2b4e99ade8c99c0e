package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// What one corpus's scenarios keep on disk (filesScenarios), in order:
//
//   - the corpus, generated before the plan is made (so its real size on
//     disk is known and the free space is measured with it written);
//   - the cold backups: one repository and cache per tool, all kept for
//     the re-scans and the restores (a repetition replaces the tool's
//     repository of the previous one, so there are never two per tool);
//   - the re-scans, the moved re-scan, the profile run: a few more
//     snapshots in the same repositories (counted in repoPerFile);
//   - the restores: one restore target at a time, removed as soon as it
//     is verified; the corpus itself is removed before them unless the
//     caller needs it afterwards (the profile runs of A and D), since the
//     verification compares file counts and bytes with the corpus's
//     statistics, not with its files; each tool's repository (and cache)
//     is removed after its last restore. kopia's cache grows during a
//     restore by what it reads (restoreCache), and keeps it until the
//     repository is removed.
//
// The repositories of earlier corpora are gone by then (filesScenarios
// removes them at its end), and so are their corpora (runAll).
//
// A tool's repository with its cache is estimated from the corpus's input
// bytes and file count (repoEstimate); the peak is the larger of every
// repository (the cold backups, the corpus beside them) and, at each
// restore, the repositories still there, the restoring tool's cache growth
// and the restore target, less the corpus when it was removed before the
// restores (the restore target takes what the corpus took). When that
// peak and a margin do not fit in the free space, peers are dropped in
// dropOrder until it does; immich-vault is never dropped (without it the
// corpus measures nothing), and a corpus where it does not fit alone is
// not run.

// dropOrder: the peers dropped first when the repositories do not fit.
// kopia first: issue 14's targets compare with restic; borg is optional
// (BENCH_BORG=1); restic last.
var dropOrder = []string{"kopia", "borg", "restic"}

// Repository estimate (repoEstimate), from the runs on the benchmark VM:
// corpus B150k (3081.7 MiB, 150,000 files) gave repositories of 3165.5
// (immich-vault), 3148.9 (restic) and 3142.4 MiB (kopia): 2.0-2.7 % over
// the input. On disk with their caches, after the cold backup of B20k
// (413.4 MiB, 20,000 files; smoke run of 16:06): immich-vault 427 + 5 MiB,
// restic 425 + 9, kopia 424 + 36: 0.95, 1.0 and 2.4 KiB a file over the
// input. The estimate takes 4 % + 2 KiB a file (2.85 KiB a file for
// thumbnails of 21 KB on average) + 256 MiB, above all three; at 500k
// files 12.5 GB against ~11.3 (immich-vault, restic) and ~12.0 (kopia).
const (
	repoOverheadPct = 4       // % of the input bytes
	repoPerFile     = 2 << 10 // bytes per file: trees, index, caches
	repoFixed       = 256 << 20
)

func repoEstimate(input int64, files int) int64 {
	return input + input*repoOverheadPct/100 + int64(files)*repoPerFile + repoFixed
}

// restoreCache is what tool's cache grows by while it restores input
// bytes. kopia keeps the contents it reads in its content cache: after
// restoring B20k (413.4 MiB) its cache had grown from 36 to 517 MiB
// (smoke run of 16:13), 1.16 times the input; its soft limit (5000 MiB by
// default, no hard limit: `kopia cache info` of a new 0.23.1 repository)
// is enforced by a sweep that spares entries younger than
// --content-min-sweep-age (10 minutes by default), longer than the
// restore, so the limit is not counted. 1.3 times the input. immich-vault's and restic's
// caches did not grow (5 and 9 MiB before and after).
func restoreCache(tool string, input int64) int64 {
	if tool == "kopia" {
		return input * 13 / 10
	}
	return 0
}

// diskMargin is kept free on top of the estimated peak: 1 GiB plus 5 % of
// the peak (other processes share the disk; the estimate is an estimate).
func diskMargin(need int64) int64 { return 1<<30 + need/20 }

// diskNeed describes a corpus about to be measured.
type diskNeed struct {
	Corpus     int64 // bytes the generated corpus occupies on disk (diskUsage)
	Input      int64 // its files' bytes (corpus.Stats.Bytes)
	Files      int
	Free       int64 // free bytes in the work directory, the corpus written
	FreeKnown  bool  // false: freeSpace could not measure it
	KeepCorpus bool  // the caller needs the corpus after the restores
	Reps       int   // repetitions (the restore order rotates: order)
}

// droppedTool is a peer that did not run on a corpus.
type droppedTool struct {
	Tool       string
	Need, Free int64 // the peak with this tool (margin included) and the free space
	// Flag: not run because of this command-line flag (-b-big-peers), not
	// for lack of disk (Need and Free are then 0).
	Flag string `json:",omitempty"`
}

// diskPlan is what planDisk decided for one corpus; it is logged and
// rendered in the report.
type diskPlan struct {
	Corpus       string
	Need         diskNeed
	Tools        []string // the tools that run, in the order given
	Dropped      []droppedTool
	Repo         int64 // estimated repository + cache of one tool
	Peak         int64 // estimated peak beyond the free space measured, with Tools
	Margin       int64
	RemoveCorpus bool // the corpus is removed before the restores
	Fits         bool // false: not even immich-vault fits; the corpus is not run
	// LowestFree is the lowest free space measured during the scenarios
	// (after each cold backup and each restore); -1 when not measured.
	LowestFree int64
}

// peakFor is the estimated peak with tools (see the top of this file).
func (p diskPlan) peakFor(tools []string) int64 {
	if len(tools) == 0 {
		return 0
	}
	n := int64(len(tools))
	target := int64(0) // the restore target takes the removed corpus's place
	if !p.RemoveCorpus {
		target = p.Need.Corpus
	}
	restore := int64(0)
	if p.Need.Reps > 1 {
		// Every repository is there during the earlier repetitions, and
		// a cache that grew stays until its repository is removed.
		restore = n * p.Repo
		for _, t := range tools {
			restore += restoreCache(t, p.Need.Input)
		}
	} else {
		// One repetition: the restores run in the tools' order (order(tools,
		// 0)), and each repository goes after its restore.
		for k, t := range tools {
			restore = max(restore, (n-int64(k))*p.Repo+restoreCache(t, p.Need.Input))
		}
	}
	return max(n*p.Repo, restore+target)
}

// planDisk decides which of tools run on a corpus (see the top of this
// file). It is a pure function of its arguments.
func planDisk(name string, n diskNeed, tools []string) diskPlan {
	p := diskPlan{Corpus: name, Need: n, Tools: slices.Clone(tools), Repo: repoEstimate(n.Input, n.Files), RemoveCorpus: !n.KeepCorpus, Fits: true, LowestFree: -1}
	p.Peak = p.peakFor(p.Tools)
	p.Margin = diskMargin(p.Peak)
	if !n.FreeKnown {
		return p
	}
	for _, drop := range dropOrder {
		if p.Peak+p.Margin <= n.Free {
			return p
		}
		i := slices.Index(p.Tools, drop)
		if i < 0 {
			continue
		}
		p.Dropped = append(p.Dropped, droppedTool{Tool: drop, Need: p.Peak + p.Margin, Free: n.Free})
		p.Tools = slices.Delete(p.Tools, i, i+1)
		p.Peak = p.peakFor(p.Tools)
		p.Margin = diskMargin(p.Peak)
	}
	p.Fits = p.Peak+p.Margin <= n.Free
	return p
}

func gb(n int64) string { return fmt.Sprintf("%.2f GB", float64(n)/1e9) }

// droppedLine says which tool did not run on which corpus and why.
func (d droppedTool) line(corpus string) string {
	if d.Flag != "" {
		return fmt.Sprintf("%s not run on corpus %s: left out by %s", d.Tool, corpus, d.Flag)
	}
	return fmt.Sprintf("%s not run on corpus %s: its repository does not fit on the disk (the corpus's repositories and restore target need %s with it, margin included; %s free after generating the corpus)", d.Tool, corpus, gb(d.Need), gb(d.Free))
}

// summary is the plan's log line.
func (p diskPlan) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "disk plan for corpus %s: corpus %s on disk (%s of files), ", p.Corpus, gb(p.Need.Corpus), gb(p.Need.Input))
	if !p.Need.FreeKnown {
		fmt.Fprintf(&b, "free space unknown: every tool runs, the disk is not checked; ")
	} else {
		fmt.Fprintf(&b, "%s free; ", gb(p.Need.Free))
	}
	fmt.Fprintf(&b, "repository + cache ~%s per tool; peak %s + margin %s with %s", gb(p.Repo), gb(p.Peak), gb(p.Margin), strings.Join(p.Tools, ", "))
	if p.RemoveCorpus {
		b.WriteString("; the corpus is removed before the restores")
	}
	for _, d := range p.Dropped {
		b.WriteString("; " + d.line(p.Corpus))
	}
	if !p.Fits {
		fmt.Fprintf(&b, "; immich-vault alone does not fit: corpus %s is not run", p.Corpus)
	}
	return b.String()
}

// renderDiskPlans is the report's table of the disk plans.
func renderDiskPlans(p printer, rep *report) {
	if len(rep.DiskPlans) == 0 {
		return
	}
	p("\n### Disk plan (diskplan.go: free space measured with the corpus written; a repository with its cache estimated at the input + %d %% + %d KiB a file + %d MiB; margin 1 GiB + 5 %% of the peak; peers dropped in the order %s when the repositories do not fit)\n\n", repoOverheadPct, repoPerFile>>10, repoFixed>>20, strings.Join(dropOrder, ", "))
	p("| Corpus | corpus on disk | free | repository estimate per tool | tools run | estimated peak + margin | lowest free measured | not run |\n|---|---|---|---|---|---|---|---|\n")
	for _, pl := range rep.DiskPlans {
		free, low := "unknown (not checked)", "—"
		if pl.Need.FreeKnown {
			free = gb(pl.Need.Free)
		}
		if pl.LowestFree >= 0 {
			low = gb(pl.LowestFree)
		}
		var dropped []string
		for _, d := range pl.Dropped {
			if d.Flag != "" {
				dropped = append(dropped, fmt.Sprintf("%s (%s)", d.Tool, d.Flag))
				continue
			}
			dropped = append(dropped, fmt.Sprintf("%s (needs %s)", d.Tool, gb(d.Need)))
		}
		if !pl.Fits {
			dropped = append(dropped, "**the corpus** (immich-vault alone does not fit)")
		}
		nr := "—"
		if len(dropped) > 0 {
			nr = strings.Join(dropped, ", ")
		}
		tools := strings.Join(pl.Tools, ", ")
		if pl.RemoveCorpus {
			tools += " (corpus removed before the restores)"
		}
		p("| %s | %s | %s | %s | %s | %s + %s | %s | %s |\n", pl.Corpus, gb(pl.Need.Corpus), free, gb(pl.Repo), tools, gb(pl.Peak), gb(pl.Margin), low, nr)
	}
}

// notRun is why tool did not run on corpus ("" when it was not dropped).
func notRun(rep *report, corpus, tool string) string {
	for _, pl := range rep.DiskPlans {
		if pl.Corpus != corpus {
			continue
		}
		for _, d := range pl.Dropped {
			if d.Tool == tool {
				return d.line(corpus)
			}
		}
	}
	return ""
}

// corpusBEstimate is corpus B's size before it is generated: files of
// 2-40 KiB (21 KiB on average; B150k's 3,231,374,231 bytes are 21,542 a
// file), each rounded up to 4 KiB blocks (2 KiB on average), and a 4 KiB
// directory for each <user>/<xx>/<yy> in use: 3 users × 65,536 leaf
// directories filled like balls in bins (105,599 directories at 150,000
// files; 19,813 at 20,000, whose corpus took 0.55 GB on disk as estimated).
func corpusBEstimate(files int) (input, onDisk int64) {
	input = int64(files) * 21504
	bins := 3.0 * 65536
	dirs := bins*(1-math.Exp(-float64(files)/bins)) + 3*256 + 4
	return input, input + int64(files)*2048 + int64(dirs)*4096
}

// precheckBigB decides, before the large corpus B is generated, whether it
// and immich-vault's repository fit at all ("" when they do, else why
// not), and logs the plan expected once it is written, so that a run does
// not fill the disk while generating 500,000 files or learn only then that
// it cannot measure them.
func precheckBigB(name string, files, reps int, free int64, tools []string) string {
	input, onDisk := corpusBEstimate(files)
	n := diskNeed{Corpus: onDisk, Input: input, Files: files, Free: free - onDisk, FreeKnown: true, Reps: reps}
	alone := planDisk(name, n, []string{"immich-vault"})
	if free < onDisk || !alone.Fits {
		return fmt.Sprintf("corpus %s not generated: it takes ~%s on disk and immich-vault's repository ~%s + margin %s, %s free", name, gb(onDisk), gb(alone.Peak), gb(alone.Margin), gb(free))
	}
	logf("expected before generating corpus %s (estimated corpus): %s", name, planDisk(name, n, tools).summary())
	return ""
}
