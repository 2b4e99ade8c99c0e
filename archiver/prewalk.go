package archiver

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/immich-vault/immich-vault/fs"
)

// prewalkers bounds the goroutines of the walk ahead (prewalk): queue
// depth for a cold disk, as the benchmarks' list+lstat floor measures it.
const prewalkers = 8

// prewalk lists every directory under roots and lstats every entry, with
// nothing else to do, while the backup's own walk runs behind it. Its only
// effect is that the kernel has the directories and inodes in memory by
// the time the walk asks for them: the walk itself builds trees, compares
// with the parent and hands files to the file workers, so it asks the
// disk for metadata at a lower queue depth than a walk that does nothing
// else (BENCHMARKS.md, "Corpus B500k with kopia…": a re-scan after such a
// walk was 10–14 % faster than one without). It skips what the walk skips
// (excluded paths, caches with ExcludeCaches, other file systems with
// OneFileSystem), follows no symlink, ignores every error (the walk
// reports them) and returns when ctx is done.
func (a *archiver) prewalk(ctx context.Context, roots []string, listed func(string)) {
	w := &prewalker{a: a, ctx: ctx, sem: make(chan struct{}, prewalkers-1), listed: listed}
	for _, r := range roots {
		fi, err := os.Lstat(r)
		if err != nil || !fi.IsDir() {
			continue
		}
		st, _ := fs.SysStatOf(fi)
		w.dir(r, st.Dev)
	}
	w.wg.Wait()
}

// targetPaths returns the paths of buildPathTrie's sorted list that are
// walked from disk: not the streams, and not a path inside another one
// (walked with it).
func targetPaths(paths []string, streams []Stream) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if slices.ContainsFunc(streams, func(s Stream) bool { return s.Path == p }) {
			continue
		}
		if n := len(out); n > 0 && (out[n-1] == "/" || strings.HasPrefix(p, out[n-1]+"/")) {
			continue
		}
		out = append(out, p)
	}
	return out
}

type prewalker struct {
	a   *archiver
	ctx context.Context
	sem chan struct{}
	wg  sync.WaitGroup
	// listed, if set (tests), is called with every directory listed.
	listed func(p string)
}

func (w *prewalker) dir(p string, rootDev uint64) {
	if w.ctx.Err() != nil {
		return
	}
	d, err := fs.OpenDir(p)
	if err != nil {
		return
	}
	defer d.Close()
	names, _ := d.Names()
	if w.listed != nil {
		w.listed(p)
	}
	opts := w.a.opts
	if opts.ExcludeCaches && slices.Contains(names, "CACHEDIR.TAG") && isCacheDir(p) {
		return
	}
	for _, name := range names {
		if w.ctx.Err() != nil {
			return
		}
		cp := filepath.Join(p, name)
		if opts.Exclude.Match(cp) {
			continue
		}
		fi, err := d.Lstat(name, cp)
		if err != nil || !fi.IsDir() {
			continue
		}
		if st, ok := fs.SysStatOf(fi); ok && opts.OneFileSystem && st.Dev != rootDev {
			continue
		}
		select {
		case w.sem <- struct{}{}:
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() { <-w.sem }()
				w.dir(cp, rootDev)
			}()
		default:
			w.dir(cp, rootDev)
		}
	}
}
