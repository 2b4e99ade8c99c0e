package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

const (
	// thumbsPerPage is a gallery page's size.
	thumbsPerPage = 200
	// galleriesCached bounds the gallery index files kept on disk.
	galleriesCached = 8
	// thumbCacheBytes bounds the thumbnail cache on disk.
	thumbCacheBytes = 512 << 20
	// maxThumbBytes: a "thumbnail" larger than this is not served from memory.
	maxThumbBytes = 16 << 20
)

// galleryState is the server's Immich part: the gallery indexes, the
// thumbnail cache and the restore root.
type galleryState struct {
	dir     string
	tempDir bool // dir was created by New: removed by Close
	cache   *immich.GalleryCache
	thumbs  *thumbCache
	restore string // restore root ("" : restores refused)
	// restoreMu runs one restore at a time.
	restoreMu sync.Mutex

	mu             sync.Mutex
	flights        map[string]*imageFlight // images being loaded
	cancelPrefetch context.CancelFunc      // of the running prefetch
}

func newGalleryState(o Options) (*galleryState, error) {
	st := &galleryState{dir: o.CacheDir, flights: map[string]*imageFlight{}}
	if st.dir == "" {
		d, err := os.MkdirTemp("", "immich-vault-serve-")
		if err != nil {
			return nil, err
		}
		st.dir, st.tempDir = d, true
	}
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return nil, fmt.Errorf("gallery cache directory: %w", err)
	}
	st.cache = immich.NewGalleryCache(filepath.Join(st.dir, "galleries"), galleriesCached)
	st.thumbs = newThumbCache(filepath.Join(st.dir, "thumbs"), thumbCacheBytes)
	if o.RestoreRoot != "" {
		abs, err := filepath.Abs(o.RestoreRoot)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(abs)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w: restore root %s is not a directory", ErrBadRestoreRoot, abs)
		}
		st.restore = abs
	}
	return st, nil
}

// ErrBadRestoreRoot: Options.RestoreRoot is not an existing directory.
var ErrBadRestoreRoot = errors.New("web: bad restore root")

func (st *galleryState) close() {
	st.mu.Lock()
	if st.cancelPrefetch != nil {
		st.cancelPrefetch()
	}
	st.mu.Unlock()
	st.cache.Close()
	if st.tempDir {
		os.RemoveAll(st.dir)
	}
}

// galleryOf resolves the {id} snapshot of r and its gallery.
func (s *Server) galleryOf(r *http.Request) (*repo.Snapshot, *immich.Gallery, *immich.Config, error) {
	sn, err := s.st.snapshot(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, nil, nil, err
	}
	g, cfg, err := s.snapshotGallery(r.Context(), sn)
	return sn, g, cfg, err
}

func (s *Server) snapshotGallery(ctx context.Context, sn *repo.Snapshot) (*immich.Gallery, *immich.Config, error) {
	if _, err := immich.RecordOf(sn); err != nil {
		return nil, nil, fmt.Errorf("snapshot %s is not an Immich snapshot: %w", sn.ID().Short(), ErrNotFound)
	}
	ctx, release, err := s.st.lock.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	return immich.SnapshotGallery(ctx, s.st.r, sn, s.gal.cache)
}

// assetOf resolves the {asset} of r in g.
func assetOf(r *http.Request, g *immich.Gallery) (int32, *immich.GalleryAsset, error) {
	id := r.PathValue("asset")
	o, ok := g.Lookup(id)
	if !ok {
		return 0, nil, fmt.Errorf("asset %q: %w", id, ErrNotFound)
	}
	a, err := g.Asset(o)
	return o, a, err
}

// assetReq is what every per-asset handler starts from: the {id}
// snapshot, its gallery and Immich layout, and the {asset} in it.
type assetReq struct {
	sn  *repo.Snapshot
	g   *immich.Gallery
	cfg *immich.Config
	o   int32
	a   *immich.GalleryAsset
}

// assetHandler resolves the assetReq of a request before calling h, and
// answers the request with the error when it cannot.
func (s *Server) assetHandler(h func(w http.ResponseWriter, r *http.Request, q *assetReq)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sn, g, cfg, err := s.galleryOf(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		o, a, err := assetOf(r, g)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, &assetReq{sn: sn, g: g, cfg: cfg, o: o, a: a})
	}
}

// galleryItem is one thumbnail of a gallery page.
type galleryItem struct {
	ID, Name, Type string
	Taken          time.Time
	Href, Thumb    string
}

type option struct {
	Value, Label string
	Selected     bool
}

// galleryFilter reads a gallery page's filter from its query.
func galleryFilter(q url.Values) (immich.GalleryFilter, error) {
	f := immich.GalleryFilter{UserID: q.Get("user"), AlbumID: q.Get("album"), PersonID: q.Get("person")}
	var err error
	for _, d := range []struct {
		name string
		t    *time.Time
	}{{"after", &f.After}, {"before", &f.Before}} {
		if v := q.Get(d.name); v != "" {
			if *d.t, err = time.Parse("2006-01-02", v); err != nil {
				return f, fmt.Errorf("%s=%q: want a date YYYY-MM-DD: %w", d.name, v, ErrBadPath)
			}
		}
	}
	if !f.Before.IsZero() {
		f.Before = f.Before.AddDate(0, 0, 1) // "before" is inclusive in the form
	}
	return f, nil
}

func (s *Server) galleryPage(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sn, g, cfg, err := s.galleryOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f, err := galleryFilter(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ords := g.Filter(f)
	p, lo, hi, pages := page(r, len(ords), thumbsPerPage)
	base := "/s/" + sn.ID().Short()
	items := make([]galleryItem, 0, hi-lo)
	for _, o := range ords[lo:hi] {
		a, err := g.Asset(o)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		items = append(items, galleryItem{ID: a.ID, Name: a.OriginalFileName, Type: a.Type, Taken: a.Taken,
			Href: base + "/asset/" + url.PathEscape(a.ID), Thumb: base + "/thumb/" + url.PathEscape(a.ID)})
	}
	var users, albums, persons []option
	for _, u := range g.Users() {
		users = append(users, option{u.ID, u.Email, u.ID == f.UserID})
	}
	var albumName string
	for _, a := range g.Albums() {
		albums = append(albums, option{a.ID, fmt.Sprintf("%s (%d)", a.Name, len(a.Assets)), a.ID == f.AlbumID})
		if a.ID == f.AlbumID {
			albumName = a.Name
		}
	}
	for _, pe := range g.Persons() {
		name := pe.Name
		if name == "" {
			name = "(unnamed " + pe.ID[:min(8, len(pe.ID))] + ")"
		}
		persons = append(persons, option{pe.ID, fmt.Sprintf("%s (%d)", name, len(pe.Assets)), pe.ID == f.PersonID})
	}
	pageURL := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "page" && len(vs) > 0 && vs[0] != "" {
				v.Set(k, vs[0])
			}
		}
		v.Set("page", strconv.Itoa(n))
		return base + "/gallery/?" + v.Encode()
	}
	s.prefetch(sn, cfg, g, ords[lo:hi])
	others, _ := s.immichSnapshots(r.Context(), sn)
	selection, _ := describeSelection(g, f, q.Get("after"), q.Get("before"))
	s.render(w, r, http.StatusOK, "gallery.html", map[string]any{
		"Title": "Gallery — " + sn.ID().Short(), "Snapshot": viewOf(sn), "Base": base, "Items": items,
		"Total": len(ords), "All": g.Len(), "Page": p, "Pages": pages, "PrevURL": pageURL(p - 1), "NextURL": pageURL(p + 1),
		"Users": users, "Albums": albums, "Persons": persons, "After": q.Get("after"), "Before": q.Get("before"),
		"AlbumID": f.AlbumID, "AlbumName": albumName, "PersonID": f.PersonID, "UserID": f.UserID, "Selection": selection, "ImmichURL": s.immichTarget(), "RestoreRoot": s.gal.restore, "Others": others,
		"Elapsed": time.Since(start).Round(10 * time.Microsecond),
	})
}

// immichSnapshots lists the Immich snapshots other than sn (for the diff
// form), newest first, at most 50.
func (s *Server) immichSnapshots(ctx context.Context, sn *repo.Snapshot) ([]snapshotView, error) {
	snaps, err := s.st.snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var out []snapshotView
	for _, o := range snaps {
		if o.ID() == sn.ID() {
			continue
		}
		if _, err := immich.RecordOf(o); err == nil {
			out = append(out, viewOf(o))
			if len(out) == 50 {
				break
			}
		}
	}
	return out, nil
}

// imageTypes are the content types served for thumbnails and previews, by
// extension; any other file is not served inline.
var imageTypes = map[string]string{".webp": "image/webp", ".jpeg": "image/jpeg", ".jpg": "image/jpeg", ".png": "image/png"}

// placeholderSVG stands for an asset without a thumbnail in the snapshot
// (taken with --skip-generated) whose original cannot be decoded cheaply.
const placeholderSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="250" height="250" viewBox="0 0 250 250"><rect width="250" height="250" fill="#8884"/><path d="M60 180l45-60 35 45 25-30 25 45z" fill="#8888"/><circle cx="165" cy="85" r="18" fill="#8888"/></svg>`

func (s *Server) thumb(w http.ResponseWriter, r *http.Request, q *assetReq) {
	s.image(w, r, q, false)
}
func (s *Server) preview(w http.ResponseWriter, r *http.Request, q *assetReq) {
	s.image(w, r, q, true)
}

// image serves an asset's thumbnail (or preview): the file asset_file
// names, read from the snapshot through the thumbnail cache; without one,
// the original scaled down when it is a JPEG, else a placeholder.
func (s *Server) image(w http.ResponseWriter, r *http.Request, q *assetReq, large bool) {
	sn, cfg, a := q.sn, q.cfg, q.a
	ctx, release, err := s.st.lock.acquire(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	ctype, b, err := s.loadImage(ctx, sn, cfg, a, large)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	serveImage(w, r, ctype, b)
}

// imageFlight is one image being loaded; requests for it wait for it.
type imageFlight struct {
	done  chan struct{}
	ctype string
	b     []byte
	err   error
}

// loadImage returns the bytes and type of an asset's thumbnail or
// preview (see image). Concurrent loads of the same image (a browser's
// request and the page's prefetch) share one read. Call it inside a held
// read lock.
func (s *Server) loadImage(ctx context.Context, sn *repo.Snapshot, cfg *immich.Config, a *immich.GalleryAsset, large bool) (string, []byte, error) {
	key := fmt.Sprintf("%s/%s/%t", sn.ID(), a.ID, large)
	s.gal.mu.Lock()
	if f := s.gal.flights[key]; f != nil {
		s.gal.mu.Unlock()
		select {
		case <-f.done:
			if f.err == nil {
				return f.ctype, f.b, nil
			}
			// The other load failed (its client went away?): try again.
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
		s.gal.mu.Lock()
	}
	f := &imageFlight{done: make(chan struct{})}
	s.gal.flights[key] = f
	s.gal.mu.Unlock()
	f.ctype, f.b, f.err = s.readImage(ctx, sn, cfg, a, large)
	s.gal.mu.Lock()
	delete(s.gal.flights, key)
	s.gal.mu.Unlock()
	close(f.done)
	return f.ctype, f.b, f.err
}

func (s *Server) readImage(ctx context.Context, sn *repo.Snapshot, cfg *immich.Config, a *immich.GalleryAsset, large bool) (string, []byte, error) {
	cands := []string{a.Thumbnail, a.Preview}
	if large {
		cands = []string{a.Preview, a.Thumbnail}
	}
	for _, p := range cands {
		ctype := imageTypes[strings.ToLower(path.Ext(p))]
		if p == "" || ctype == "" {
			continue
		}
		n := s.snapshotFile(ctx, sn, cfg, p)
		if n == nil || n.Size > maxThumbBytes {
			continue
		}
		key := cacheKey(n, "raw")
		b, ok := s.gal.thumbs.get(key)
		if !ok {
			var err error
			if b, err = io.ReadAll(s.st.open(ctx, n)); err != nil {
				return "", nil, err
			}
			s.gal.thumbs.put(key, b)
		}
		return ctype, b, nil
	}
	// No generated image: decode the original if it is a JPEG.
	if ext := strings.ToLower(path.Ext(a.OriginalPath)); ext == ".jpg" || ext == ".jpeg" {
		if n := s.snapshotFile(ctx, sn, cfg, a.OriginalPath); n != nil {
			dim := 250
			if large {
				dim = 1440
			}
			key := cacheKey(n, "scaled"+strconv.Itoa(dim))
			b, ok := s.gal.thumbs.get(key)
			var err error
			if !ok {
				b, err = scaleJPEG(s.st.open(ctx, n), dim)
				if err == nil {
					s.gal.thumbs.put(key, b)
				}
			}
			if err == nil {
				return "image/jpeg", b, nil
			}
			if ctx.Err() != nil {
				return "", nil, ctx.Err()
			}
		}
	}
	return "image/svg+xml", []byte(placeholderSVG), nil
}

// prefetchWorkers is how many thumbnails of a page are read at once ahead
// of the browser's requests (a browser opens about 6 connections per
// host; from a remote repository, the round trips dominate).
const prefetchWorkers = 16

// prefetch reads the thumbnails of a gallery page into the cache while
// the browser receives the page, at most one page at a time (a newer page
// cancels the older prefetch).
func (s *Server) prefetch(sn *repo.Snapshot, cfg *immich.Config, g *immich.Gallery, ords []int32) {
	ctx, cancel := context.WithTimeout(s.st.lock.base, time.Minute)
	s.gal.mu.Lock()
	if s.gal.cancelPrefetch != nil {
		s.gal.cancelPrefetch()
	}
	s.gal.cancelPrefetch = cancel
	s.gal.mu.Unlock()
	go func() {
		defer cancel()
		ctx, release, err := s.st.lock.acquire(ctx)
		if err != nil {
			return
		}
		defer release()
		jobs := make(chan int32)
		var wg sync.WaitGroup
		for range prefetchWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for o := range jobs {
					if a, err := g.Asset(o); err == nil {
						s.loadImage(ctx, sn, cfg, a, false)
					}
				}
			}()
		}
		for _, o := range ords {
			select {
			case jobs <- o:
			case <-ctx.Done():
			}
		}
		close(jobs)
		wg.Wait()
	}()
}

// snapshotFile returns the file node of database path p in sn, nil when
// the snapshot has none.
func (s *Server) snapshotFile(ctx context.Context, sn *repo.Snapshot, cfg *immich.Config, p string) *data.Node {
	hp, ok := cfg.HostPath(p)
	if !ok {
		return nil
	}
	comps, err := splitPath(filepath.ToSlash(hp))
	if err != nil || len(comps) == 0 {
		return nil
	}
	n, err := s.st.node(ctx, sn, comps)
	if err != nil || n.Type != data.NodeFile {
		return nil
	}
	return n
}

// cacheKey names a derived image of file n's content.
func cacheKey(n *data.Node, kind string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, id := range n.Content {
		h.Write(id[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:20])
}

func serveImage(w http.ResponseWriter, r *http.Request, ctype string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	// A snapshot never changes: the browser may keep its images.
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// namedItem is a link in the asset page.
type namedItem struct{ Name, Href string }

func (s *Server) assetPage(w http.ResponseWriter, r *http.Request, q *assetReq) {
	sn, g, cfg, o, a := q.sn, q.g, q.cfg, q.o, q.a
	base := "/s/" + sn.ID().Short()
	owner, _ := g.User(a.OwnerID)
	var albums, persons []namedItem
	for _, al := range g.AlbumsOf(o) {
		albums = append(albums, namedItem{al.Name, base + "/gallery/?album=" + url.QueryEscape(al.ID)})
	}
	for _, p := range g.PersonsOf(o) {
		persons = append(persons, namedItem{p.Name, base + "/gallery/?person=" + url.QueryEscape(p.ID)})
	}
	var related []namedItem
	for _, x := range g.Expand([]int32{o}) {
		if x == o {
			continue
		}
		if ra, err := g.Asset(x); err == nil {
			related = append(related, namedItem{ra.OriginalFileName, base + "/asset/" + url.PathEscape(ra.ID)})
		}
	}
	ctx, release, err := s.st.lock.acquire(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n := s.snapshotFile(ctx, sn, cfg, a.OriginalPath)
	release()
	var size uint64
	if n != nil {
		size = n.Size
	}
	s.render(w, r, http.StatusOK, "asset.html", map[string]any{
		"Title": a.OriginalFileName + " — " + sn.ID().Short(), "Snapshot": viewOf(sn), "Base": base, "A": a,
		"Owner": owner, "Albums": albums, "Persons": persons, "Related": related, "InSnapshot": n != nil, "Size": size,
		"Preview": base + "/preview/" + url.PathEscape(a.ID), "Original": base + "/original/" + url.PathEscape(a.ID),
	})
}

// original downloads an asset's original under its original file name.
func (s *Server) original(w http.ResponseWriter, r *http.Request, q *assetReq) {
	sn, cfg, a := q.sn, q.cfg, q.a
	ctx, release, err := s.st.lock.acquire(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	n := s.snapshotFile(ctx, sn, cfg, a.OriginalPath)
	if n == nil {
		s.fail(w, r, fmt.Errorf("the original %s of asset %s is not in this snapshot: %w", a.OriginalPath, a.ID, ErrNotFound))
		return
	}
	name := a.OriginalFileName
	if !validName(name) {
		name = path.Base(a.OriginalPath)
	}
	attachment(w, name, "application/octet-stream")
	w.Header().Set("ETag", etag(n))
	http.ServeContent(w, r, name, n.ModTime, s.st.open(ctx, n))
}

// restoreTarget validates a folder name given in the restore form and
// returns its path under the restore root. It refuses rather than cleans:
// an absolute path, "..", an empty component, or an existing symbolic link
// on the way is an error.
func (st *galleryState) restoreTarget(folder string) (string, error) {
	if st.restore == "" {
		return "", errors.New("restores are disabled: start serve with --restore-root DIR to allow them")
	}
	folder = strings.TrimSpace(folder)
	if folder == "" || strings.HasPrefix(folder, "/") || strings.Contains(folder, `\`) {
		return "", fmt.Errorf("folder %q: give a relative folder name under the restore root: %w", folder, ErrBadPath)
	}
	comps, err := splitPath(folder)
	if err != nil || len(comps) == 0 {
		return "", fmt.Errorf("folder %q: %w", folder, ErrBadPath)
	}
	p := st.restore
	for _, c := range comps {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("folder %q: %s is a symbolic link: %w", folder, p, ErrBadPath)
		}
		if err == nil && !fi.IsDir() {
			return "", fmt.Errorf("folder %q: %s is not a directory: %w", folder, p, ErrBadPath)
		}
	}
	return p, nil
}

var (
	errForbidden = errors.New("web: forbidden")
	errBusy      = errors.New("web: busy")
)
