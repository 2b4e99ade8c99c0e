package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

const (
	snapshotsPerPage = 100
	entriesPerPage   = 500
)

var funcs = template.FuncMap{
	"bytes": func(n any) string {
		switch v := n.(type) {
		case int64:
			return humanize.IBytes(uint64(max(v, 0)))
		case uint64:
			return humanize.IBytes(v)
		}
		return ""
	},
	"when":     func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"duration": func(d time.Duration) string { return d.Round(time.Second).String() },
	"join":     strings.Join,
}

// snapshotView is one timeline row.
type snapshotView struct {
	Sn        *repo.Snapshot
	Short     string
	Duration  time.Duration
	Files     int64
	Immich    *immich.Record
	RecordErr string
}

func viewOf(sn *repo.Snapshot) snapshotView {
	v := snapshotView{Sn: sn, Short: sn.ID().Short()}
	if sm := sn.Summary; sm != nil {
		v.Duration = sm.End.Sub(sm.Start)
		v.Files = sm.FilesNew + sm.FilesChanged + sm.FilesUnmodified
	}
	rec, err := immich.RecordOf(sn)
	switch {
	case err == nil:
		v.Immich = rec
	case !errors.Is(err, immich.ErrNotImmich):
		v.RecordErr = err.Error()
	}
	return v
}

// page returns the 1-based page number of r (?page=N) and the bounds of
// that page in a list of n items.
func page(r *http.Request, n, per int) (p, lo, hi, pages int) {
	p, _ = strconv.Atoi(r.URL.Query().Get("page"))
	pages = max((n+per-1)/per, 1)
	p = min(max(p, 1), pages)
	lo = (p - 1) * per
	hi = min(lo+per, n)
	return p, lo, hi, pages
}

func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	snaps, err := s.st.snapshots(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, lo, hi, pages := page(r, len(snaps), snapshotsPerPage)
	rows := make([]snapshotView, 0, hi-lo)
	for _, sn := range snaps[lo:hi] {
		rows = append(rows, viewOf(sn))
	}
	s.render(w, r, http.StatusOK, "timeline.html", map[string]any{
		"Title": "Snapshots", "Rows": rows, "Total": len(snaps), "Page": p, "Pages": pages,
		"Prev": p - 1, "Next": p + 1, "InDaemon": s.opts.Jobs != nil, "Jobs": s.jobsView(),
	})
}

// crumb is one breadcrumb link.
type crumb struct{ Name, Href string }

// entryView is one row of a folder listing.
type entryView struct {
	Name    string
	Type    string
	Size    uint64
	ModTime time.Time
	Mode    string
	Href    string // browse (dir) or download (file) link; "" for others
	Target  string // symlink target
}

// escapePath escapes each component of comps for a URL path.
func escapePath(comps []string) string {
	e := make([]string, len(comps))
	for i, c := range comps {
		e[i] = url.PathEscape(c)
	}
	return strings.Join(e, "/")
}

// resolve finds the snapshot and the node a /s/{id}/.../{path...} request
// names.
func (s *Server) resolve(r *http.Request) (*repo.Snapshot, []string, *data.Node, error) {
	comps, err := splitPath(r.PathValue("path"))
	if err != nil {
		return nil, nil, nil, err
	}
	sn, err := s.st.snapshot(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, nil, nil, err
	}
	n, err := s.st.node(r.Context(), sn, comps)
	if err != nil {
		return nil, nil, nil, err
	}
	return sn, comps, n, nil
}

func (s *Server) browse(w http.ResponseWriter, r *http.Request) {
	sn, comps, n, err := s.resolve(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	short := sn.ID().Short()
	base := "/s/" + short
	if n.Type != data.NodeDir {
		http.Redirect(w, r, base+"/file/"+escapePath(comps), http.StatusSeeOther)
		return
	}
	t, err := s.st.tree(r.Context(), *n.Subtree)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	crumbs := []crumb{{Name: short, Href: base + "/browse/"}}
	for i, c := range comps {
		crumbs = append(crumbs, crumb{Name: c, Href: base + "/browse/" + escapePath(comps[:i+1]) + "/"})
	}
	p, lo, hi, pages := page(r, data.TreeLen(t), entriesPerPage)
	nodes, err := data.TreeSlice(r.Context(), s.st.tree, t, lo, hi) // a split directory: only the parts shown
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entries := make([]entryView, 0, hi-lo)
	for _, c := range nodes {
		name := c.FileName()
		e := entryView{Name: name, Type: c.Type, Size: c.Size, ModTime: c.ModTime, Mode: c.FileMode().String(), Target: c.Target()}
		if validName(name) {
			child := escapePath(append(comps[:len(comps):len(comps)], name))
			switch c.Type {
			case data.NodeDir:
				e.Href = base + "/browse/" + child + "/"
			case data.NodeFile:
				e.Href = base + "/file/" + child
			}
		}
		entries = append(entries, e)
	}
	here := escapePath(comps)
	s.render(w, r, http.StatusOK, "browse.html", map[string]any{
		"Title": "/" + strings.Join(comps, "/") + " — " + short, "Snapshot": viewOf(sn), "Crumbs": crumbs,
		"Path": "/" + strings.Join(comps, "/"), "Entries": entries, "Count": data.TreeLen(t),
		"Page": p, "Pages": pages, "Prev": p - 1, "Next": p + 1,
		"Tar": base + "/archive/" + here + "?format=tar", "Zip": base + "/archive/" + here + "?format=zip",
	})
}

// attachment sets the headers of a download: never rendered by the
// browser, and sandboxed should it be anyway.
func attachment(w http.ResponseWriter, name, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-cache")
}

// etag identifies a file's content by its blob IDs (a weak validator is
// enough: it serves If-Range for resumed downloads).
func etag(n *data.Node) string {
	h := sha256.New()
	for _, id := range n.Content {
		h.Write(id[:])
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	_, comps, n, err := s.resolve(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if n.Type != data.NodeFile {
		s.fail(w, r, errors.Join(errors.New("only regular files can be downloaded (use the folder's tar or zip link)"), ErrNotFound))
		return
	}
	ctx, release, err := s.st.lock.acquire(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	name := "file"
	if len(comps) > 0 {
		name = comps[len(comps)-1]
	}
	attachment(w, name, "application/octet-stream")
	w.Header().Set("ETag", etag(n))
	rd := s.st.open(ctx, n)
	defer rd.Close()
	http.ServeContent(w, r, name, n.ModTime, rd)
}

func (s *Server) archive(w http.ResponseWriter, r *http.Request) {
	sn, comps, n, err := s.resolve(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "tar" && format != "zip" {
		s.fail(w, r, errors.Join(errors.New("format must be tar or zip"), ErrBadPath))
		return
	}
	if n.Type != data.NodeDir {
		s.fail(w, r, errors.Join(errors.New("only a folder can be downloaded as an archive"), ErrNotDir))
		return
	}
	ctx, release, err := s.st.lock.acquire(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	top := "snapshot-" + sn.ID().Short()
	if len(comps) > 0 {
		top = comps[len(comps)-1]
	}
	ctype := "application/x-tar"
	if format == "zip" {
		ctype = "application/zip"
	}
	attachment(w, top+"."+format, ctype)
	aw := newArchiveWriter(format, w)
	if err := s.writeArchive(ctx, aw, path.Clean(top), n); err != nil {
		if ctx.Err() == nil {
			s.opts.Warn("archive " + r.URL.Path + ": " + err.Error())
		}
		// Headers are gone: break the connection so the client sees a
		// failed transfer, never a truncated archive that looks whole.
		panic(http.ErrAbortHandler)
	}
	if err := aw.Close(); err != nil {
		panic(http.ErrAbortHandler)
	}
}
