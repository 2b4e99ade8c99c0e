package archiver

import (
	"context"
	"slices"
	"sync"
	"time"
)

// PrewalkForTest runs the walk ahead of a backup with opts over roots and
// returns the directories it listed, sorted.
func PrewalkForTest(ctx context.Context, opts BackupOptions, roots []string) []string {
	return PrewalkWithHookForTest(ctx, opts, roots, func(string) {})
}

// PrewalkWithHookForTest is PrewalkForTest, calling hook (under a lock)
// with every directory as it is listed.
func PrewalkWithHookForTest(ctx context.Context, opts BackupOptions, roots []string, hook func(string)) []string {
	a := &archiver{opts: &opts, prog: opts.Progress}
	var mu sync.Mutex
	var listed []string
	a.prewalk(ctx, roots, func(p string) { mu.Lock(); listed = append(listed, p); hook(p); mu.Unlock() })
	slices.Sort(listed)
	return listed
}

// TargetPathsForTest is targetPaths.
func TargetPathsForTest(paths []string, streams []Stream) []string {
	return targetPaths(paths, streams)
}

// SkipPrewalkForTest leaves the walk ahead out of backups until the test
// ends, as when the backup's walk finishes first.
func SkipPrewalkForTest(t interface{ Cleanup(func()) }) {
	skipPrewalk = true
	t.Cleanup(func() { skipPrewalk = false })
}

// DelayPrewalkForTest holds the walk ahead of backups back by d until the
// test ends, so that the backup's walk ends first.
func DelayPrewalkForTest(t interface{ Cleanup(func()) }, d time.Duration) {
	testHookPrewalk = func() { time.Sleep(d) }
	t.Cleanup(func() { testHookPrewalk = nil })
}
