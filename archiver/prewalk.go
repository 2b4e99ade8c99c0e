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
// nothing else to do, while the backup's own walk runs behind it, so that
// the kernel has the directories and inodes in memory by the time the walk
// asks for them: the walk itself builds trees, compares with the parent
// and hands files to the file workers, so it asks the disk for metadata at
// a lower queue depth than a walk that does nothing else. Measured on
// 150,000 thumbnails in Immich's fan-out, cold cache, 2 cores: a no-change
// re-scan took 15.8 s with it against 16.9 s without (medians of 10
// alternated pairs, faster in 8; BENCHMARKS.md). It skips what the walk
// skips (excluded paths, caches with ExcludeCaches, other file systems
// with OneFileSystem), follows no symlink, ignores every error (the walk
// reports them) and returns when ctx is done. On the way it counts the
// regular files and their bytes into the progress totals (the progress
// display's "of N files"), and for a space gate (spacegate.go) the bytes
// of those changed since the parent, so no other walk is needed for them.
func (a *archiver) prewalk(ctx context.Context, roots []string, listed func(string)) {
	w := &prewalker{a: a, ctx: ctx, sem: make(chan struct{}, prewalkers-1), listed: listed}
	if a.gate != nil {
		defer a.gate.finish(ctx)
	}
	for _, r := range roots {
		fi, err := os.Lstat(r)
		if err == nil && fi.Mode().IsRegular() && a.prog != nil {
			a.prog.TotalFiles.Add(1)
			a.prog.TotalBytes.Add(fi.Size())
		}
		if err == nil && fi.Mode().IsRegular() && a.gate != nil && a.gate.counts(fi) {
			a.gate.changed.Add(fi.Size())
		}
		if err != nil || !fi.IsDir() {
			continue
		}
		st, _ := fs.SysStatOf(fi)
		w.dir(r, st.Dev)
	}
	w.wg.Wait()
	if a.prog != nil && ctx.Err() == nil {
		a.prog.TotalKnown.Store(true)
	}
}

// targetPaths returns the paths of buildPathTrie's list that are walked
// from disk: not the streams, and not a path inside another one or given
// twice (the walk visits it as part of the other, with its exclusions and
// its device for OneFileSystem).
func targetPaths(paths []string, streams []Stream) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if slices.ContainsFunc(streams, func(s Stream) bool { return s.Path == p }) {
			continue
		}
		if slices.ContainsFunc(out, func(q string) bool { return q == p || q == "/" || strings.HasPrefix(p, q+"/") }) {
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

// dir lists p and lstats its entries, then walks its subdirectories (in
// new goroutines while slots are free, inline otherwise) with p's
// descriptor closed: a deep tree holds no more descriptors than walkers.
func (w *prewalker) dir(p string, rootDev uint64) {
	if w.ctx.Err() != nil {
		return
	}
	d, err := fs.OpenDir(p)
	if err != nil {
		return
	}
	names, _ := d.Names()
	if w.listed != nil {
		w.listed(p)
	}
	opts := w.a.opts
	var subdirs []string
	var files, bytes, changed int64
	for _, name := range names {
		if w.ctx.Err() != nil {
			break
		}
		cp := filepath.Join(p, name)
		if opts.Exclude.Match(cp) {
			continue
		}
		fi, err := d.Lstat(name, cp)
		if err != nil {
			continue
		}
		if fi.Mode().IsRegular() {
			files++
			bytes += fi.Size()
			if g := w.a.gate; g != nil && g.counts(fi) {
				changed += fi.Size()
			}
			continue
		}
		if !fi.IsDir() {
			continue
		}
		if st, ok := fs.SysStatOf(fi); ok && opts.OneFileSystem && st.Dev != rootDev {
			continue
		}
		if opts.ExcludeCaches && isCacheDir(cp) { // as saveDir decides
			continue
		}
		subdirs = append(subdirs, cp)
	}
	d.Close()
	if prog := w.a.prog; prog != nil {
		prog.TotalFiles.Add(files)
		prog.TotalBytes.Add(bytes)
	}
	if g := w.a.gate; g != nil {
		g.changed.Add(changed)
	}
	for _, cp := range subdirs {
		if w.ctx.Err() != nil {
			return
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
