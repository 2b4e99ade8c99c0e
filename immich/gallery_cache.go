package immich

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/immich-vault/immich-vault/repo"
)

// GalleryCache keeps the gallery index files of snapshots in a directory
// (bounded: the least recently used beyond Max are deleted) and the open
// galleries. A snapshot's gallery is built once, from its dump, the first
// time it is asked for; concurrent requests for it wait for that one
// build. Safe for concurrent use.
type GalleryCache struct {
	dir string
	max int

	mu       sync.Mutex
	open     map[string]*Gallery
	used     map[string]int64 // last use, a counter
	tick     int64
	building map[string]*galleryBuild
}

type galleryBuild struct {
	done chan struct{}
	g    *Gallery
	err  error
}

// NewGalleryCache returns a cache of at most max gallery files under dir
// (created 0700: the files hold file names and paths of the library).
func NewGalleryCache(dir string, max int) *GalleryCache {
	if max < 1 {
		max = 1
	}
	return &GalleryCache{dir: dir, max: max, open: map[string]*Gallery{}, used: map[string]int64{}, building: map[string]*galleryBuild{}}
}

// Get returns the gallery stored under key (a snapshot ID), building it
// from the dump open returns when it is not cached yet.
func (c *GalleryCache) Get(ctx context.Context, key string, open func(context.Context) (io.ReadCloser, error)) (*Gallery, error) {
	if key == "" || strings.ContainsAny(key, `/\.`) {
		return nil, fmt.Errorf("invalid gallery key %q", key)
	}
	c.mu.Lock()
	c.tick++
	c.used[key] = c.tick
	if g := c.open[key]; g != nil {
		c.mu.Unlock()
		return g, nil
	}
	if b := c.building[key]; b != nil {
		c.mu.Unlock()
		select {
		case <-b.done:
			return b.g, b.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b := &galleryBuild{done: make(chan struct{})}
	c.building[key] = b
	c.mu.Unlock()

	b.g, b.err = c.load(ctx, key, open)
	c.mu.Lock()
	delete(c.building, key)
	if b.err == nil {
		c.open[key] = b.g
		c.evictLocked(key)
	}
	c.mu.Unlock()
	close(b.done)
	return b.g, b.err
}

func (c *GalleryCache) file(key string) string { return filepath.Join(c.dir, key+".gallery") }

func (c *GalleryCache) load(ctx context.Context, key string, open func(context.Context) (io.ReadCloser, error)) (*Gallery, error) {
	p := c.file(key)
	if g, err := OpenGallery(p); err == nil {
		return g, nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("gallery cache: %w", err)
	}
	rc, err := open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return BuildGallery(rc, p)
}

// evictLocked closes and deletes the least recently used galleries beyond
// max, never keep.
func (c *GalleryCache) evictLocked(keep string) {
	entries, _ := os.ReadDir(c.dir)
	var keys []string
	for _, e := range entries {
		if k, ok := strings.CutSuffix(e.Name(), ".gallery"); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) <= c.max {
		return
	}
	sort.Slice(keys, func(i, j int) bool { return c.used[keys[i]] < c.used[keys[j]] })
	for _, k := range keys[:len(keys)-c.max] {
		if k == keep {
			continue
		}
		// Not closed: a request may still be reading it. Once unreachable,
		// its file is closed by the runtime (os.File's finalizer); on Unix
		// the removed file stays readable until then.
		delete(c.open, k)
		delete(c.used, k)
		os.Remove(c.file(k))
	}
}

// Close closes every open gallery (the files stay for the next run).
func (c *GalleryCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, g := range c.open {
		g.Close()
		delete(c.open, k)
	}
}

// SnapshotGallery returns the gallery of an Immich snapshot through cache,
// and the configuration mapping the database's paths to the snapshot's.
func SnapshotGallery(ctx context.Context, r *repo.Repository, sn *repo.Snapshot, cache *GalleryCache) (*Gallery, *Config, error) {
	rec, err := RecordOf(sn)
	if err != nil {
		return nil, nil, err
	}
	cfg := &Config{UploadLocation: rec.UploadLocation, External: rec.External}
	g, err := cache.Get(ctx, sn.ID().String(), func(ctx context.Context) (io.ReadCloser, error) {
		rc, _, err := OpenDump(ctx, r, sn)
		return rc, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("index the snapshot's database dump: %w", err)
	}
	return g, cfg, nil
}
