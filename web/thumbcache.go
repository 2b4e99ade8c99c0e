package web

import (
	"bytes"
	"container/list"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// thumbCache is a bounded on-disk cache of thumbnail bytes, keyed by the
// content of the file they come from (its blob IDs: the same thumbnail in
// many snapshots is cached once), least recently used evicted first. Safe
// for concurrent use.
type thumbCache struct {
	dir string
	max int64

	mu   sync.Mutex
	size int64
	ll   *list.List // of *thumbEntry, most recent first
	m    map[string]*list.Element
}

type thumbEntry struct {
	key  string
	size int64
}

func newThumbCache(dir string, max int64) *thumbCache {
	c := &thumbCache{dir: dir, max: max, ll: list.New(), m: map[string]*list.Element{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c
	}
	// Entries of an earlier run, oldest first, so the newest stay.
	ents, _ := os.ReadDir(dir)
	type old struct {
		name string
		size int64
		mod  int64
	}
	var olds []old
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && filepath.Ext(e.Name()) == ".t" {
			olds = append(olds, old{e.Name(), fi.Size(), fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(olds, func(i, j int) bool { return olds[i].mod < olds[j].mod })
	for _, o := range olds {
		key := o.name[:len(o.name)-2]
		c.m[key] = c.ll.PushFront(&thumbEntry{key: key, size: o.size})
		c.size += o.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c
}

func (c *thumbCache) path(key string) string { return filepath.Join(c.dir, key+".t") }

// get returns the cached bytes of key.
func (c *thumbCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	if ok {
		c.ll.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		c.mu.Lock()
		if e, ok := c.m[key]; ok {
			c.ll.Remove(e)
			delete(c.m, key)
			c.size -= e.Value.(*thumbEntry).size
		}
		c.mu.Unlock()
		return nil, false
	}
	return b, true
}

// put stores b under key (best effort: a full disk only costs the cache).
func (c *thumbCache) put(key string, b []byte) {
	if int64(len(b)) > c.max/4 {
		return
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), c.path(key)) != nil {
		os.Remove(tmp.Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.size -= e.Value.(*thumbEntry).size
		c.ll.Remove(e)
	}
	c.m[key] = c.ll.PushFront(&thumbEntry{key: key, size: int64(len(b))})
	c.size += int64(len(b))
	c.evictLocked()
}

func (c *thumbCache) evictLocked() {
	for c.size > c.max && c.ll.Len() > 0 {
		e := c.ll.Back()
		te := e.Value.(*thumbEntry)
		c.ll.Remove(e)
		delete(c.m, te.key)
		c.size -= te.size
		os.Remove(c.path(te.key))
	}
}

// maxDecodePixels bounds the originals decoded for a missing thumbnail
// (a 48 MP photo decodes in about a second and 200 MB).
const maxDecodePixels = 50_000_000

// scaleJPEG decodes a JPEG and returns it re-encoded with its longer side
// at most maxDim pixels (box-filtered).
func scaleJPEG(r io.Reader, maxDim int) ([]byte, error) {
	var head bytes.Buffer
	cfg, err := jpeg.DecodeConfig(io.TeeReader(r, &head))
	if err != nil {
		return nil, err
	}
	if cfg.Width*cfg.Height > maxDecodePixels || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, image.ErrFormat
	}
	src, err := jpeg.Decode(io.MultiReader(&head, r))
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	scale := max(float64(w)/float64(maxDim), float64(h)/float64(maxDim), 1)
	dw, dh := max(int(float64(w)/scale), 1), max(int(float64(h)/scale), 1)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		y0, y1 := b.Min.Y+y*h/dh, b.Min.Y+max((y+1)*h/dh, y*h/dh+1)
		for x := range dw {
			x0, x1 := b.Min.X+x*w/dw, b.Min.X+max((x+1)*w/dw, x*w/dw+1)
			var rs, gs, bs, n uint64
			// At most 4×4 samples per output pixel: cheap and smooth enough.
			sy, sx := max((y1-y0)/4, 1), max((x1-x0)/4, 1)
			for yy := y0; yy < y1; yy += sy {
				for xx := x0; xx < x1; xx += sx {
					cr, cg, cb, _ := src.At(xx, yy).RGBA()
					rs, gs, bs, n = rs+uint64(cr), gs+uint64(cg), bs+uint64(cb), n+1
				}
			}
			i := dst.PixOffset(x, y)
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = uint8(rs/n>>8), uint8(gs/n>>8), uint8(bs/n>>8), 255
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
