package ceiling

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// TreeResult is one pass over a directory tree.
type TreeResult struct {
	Time        time.Duration
	Dirs, Files int
	Bytes       int64 // read (ReadTree only)
}

// WalkTree lists every directory under root and lstat(2)s every entry
// with workers goroutines: the metadata floor of a no-change re-scan,
// which must at least learn every file's size, mtime, ctime and inode.
func WalkTree(root string, workers int) (TreeResult, error) {
	return tree(root, workers, false)
}

// ReadTree is WalkTree that also opens and reads every regular file to the
// end: the source-side floor of a cold backup of many small files (the
// per-file open/close and the scattered reads included).
func ReadTree(root string, workers int) (TreeResult, error) {
	return tree(root, workers, true)
}

func tree(root string, workers int, read bool) (TreeResult, error) {
	workers = max(1, workers)
	var (
		mu      sync.Mutex
		res     TreeResult
		firstEr error
		pending sync.WaitGroup
	)
	queue := make(chan string, 1<<16)
	var overflow []string // directories found while the queue was full
	push := func(d string) {
		pending.Add(1)
		select {
		case queue <- d:
		default:
			mu.Lock()
			overflow = append(overflow, d)
			mu.Unlock()
		}
	}
	fail := func(err error) {
		mu.Lock()
		if firstEr == nil {
			firstEr = err
		}
		mu.Unlock()
	}
	start := time.Now()
	push(root)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			var dirs, files int
			var bytes int64
			defer func() {
				mu.Lock()
				res.Dirs += dirs
				res.Files += files
				res.Bytes += bytes
				mu.Unlock()
			}()
			for d := range queue {
				ents, err := os.ReadDir(d)
				if err != nil {
					fail(err)
				}
				dirs++
				for _, e := range ents {
					p := filepath.Join(d, e.Name())
					fi, err := os.Lstat(p)
					if err != nil {
						fail(err)
						continue
					}
					switch {
					case fi.IsDir():
						push(p)
					case fi.Mode().IsRegular():
						files++
						if read {
							n, err := readAll(p, buf)
							bytes += n
							if err != nil {
								fail(err)
							}
						}
					}
				}
				// Move queued overflow into the channel before finishing d.
				mu.Lock()
				for len(overflow) > 0 {
					select {
					case queue <- overflow[len(overflow)-1]:
						overflow = overflow[:len(overflow)-1]
						continue
					default:
					}
					break
				}
				mu.Unlock()
				pending.Done()
			}
		}()
	}
	pending.Wait()
	close(queue)
	wg.Wait()
	res.Time = time.Since(start)
	if firstEr != nil {
		return res, fmt.Errorf("walk %s: %w", root, firstEr)
	}
	return res, nil
}

func readAll(p string, buf []byte) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
}
