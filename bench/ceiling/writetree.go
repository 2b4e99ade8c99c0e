package ceiling

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// TreePlan is the shape of a directory tree: its directories (parents
// before children) and the sizes of the regular files in each.
type TreePlan struct {
	Dirs  []PlanDir
	Files int
	Bytes int64
}

// PlanDir is one directory of a TreePlan, relative to the tree's root.
type PlanDir struct {
	Rel   string
	Files []PlanFile
}

// PlanFile is one regular file of a PlanDir.
type PlanFile struct {
	Name string
	Size int64
}

// PlanTree records the shape of the tree under root (not timed: it is the
// restore's plan, which a restorer knows from its snapshot).
func PlanTree(root string) (TreePlan, error) {
	var p TreePlan
	idx := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			idx[rel] = len(p.Dirs)
			p.Dirs = append(p.Dirs, PlanDir{Rel: rel})
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			i, ok := idx[filepath.Dir(rel)]
			if !ok {
				return fmt.Errorf("%s: parent directory not planned", path)
			}
			p.Dirs[i].Files = append(p.Dirs[i].Files, PlanFile{Name: d.Name(), Size: fi.Size()})
			p.Files++
			p.Bytes += fi.Size()
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("plan tree %s: %w", root, err)
	}
	return p, nil
}

// WriteTree creates plan's directories under dst (which must not exist)
// and in them every file, written to its size and given an mtime, with
// workers goroutines taking one directory at a time: the target-side floor
// of a restore of many small files, the kernel's per-file create costs
// included. No fsync, as no restorer syncs restored files. The bytes come
// from one buffer (their content costs the file system nothing).
func WriteTree(plan TreePlan, dst string, workers int) (TreeResult, error) {
	workers = max(1, workers)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + i>>9)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var (
		mu    sync.Mutex
		res   TreeResult
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	start := time.Now()
	if err := os.Mkdir(dst, 0o755); err != nil {
		return res, fmt.Errorf("write tree: %w", err)
	}
	queue := make(chan *PlanDir)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range queue {
				dir := filepath.Join(dst, d.Rel)
				// Directories come parents first, but a parent may still be
				// in another worker's hands: MkdirAll waits for no one.
				if err := os.MkdirAll(dir, 0o755); err != nil {
					fail(err)
					continue
				}
				for _, f := range d.Files {
					if err := writeFile(filepath.Join(dir, f.Name), f.Size, buf, mtime); err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	for i := range plan.Dirs {
		queue <- &plan.Dirs[i]
	}
	close(queue)
	wg.Wait()
	res.Time = time.Since(start)
	res.Dirs, res.Files, res.Bytes = len(plan.Dirs), plan.Files, plan.Bytes
	if first != nil {
		return res, fmt.Errorf("write tree %s: %w", dst, first)
	}
	return res, nil
}

func writeFile(p string, size int64, buf []byte, mtime time.Time) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for left := size; left > 0; {
		n, err := f.Write(buf[:min(left, int64(len(buf)))])
		if err != nil {
			f.Close()
			return err
		}
		left -= int64(n)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(p, mtime, mtime)
}
