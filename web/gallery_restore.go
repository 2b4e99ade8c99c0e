package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/immich"
)

// restoreSelection restores the assets of a gallery selection — an album,
// a person, a user, a date range (the gallery page's filters, the same
// form field names), or several of them at once — with their sidecars,
// live-photo videos and stack members into a folder under the restore
// root. At least one filter is required: the whole library is not
// restored by a click on an unfiltered page.
func (s *Server) restoreSelection(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	sn, g, cfg, err := s.galleryOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	target, err := s.gal.restoreTarget(r.PostFormValue("folder"))
	if err != nil {
		if !errors.Is(err, ErrBadPath) {
			err = fmt.Errorf("%w: %w", err, errForbidden)
		}
		s.fail(w, r, err)
		return
	}
	f, err := galleryFilter(r.PostForm)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	what, err := describeSelection(g, f, r.PostFormValue("after"), r.PostFormValue("before"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.gal.restoreMu.TryLock() {
		s.fail(w, r, fmt.Errorf("another restore is running: wait for it to finish: %w", errBusy))
		return
	}
	defer s.gal.restoreMu.Unlock()
	// The restore goes on if the browser leaves (the server's life bounds it).
	ctx, release, err := s.st.lock.acquire(context.WithoutCancel(r.Context()))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer release()
	f.Hidden = true // live-photo video parts of the chosen assets
	ords := g.Expand(g.Filter(f))
	start := time.Now()
	res, rerr := immich.RestoreToFolder(ctx, g, ords, cfg, immich.NewSnapshotFiles(s.st.r, sn), target)
	status := http.StatusOK
	msg := ""
	if rerr != nil {
		status = http.StatusInternalServerError
		msg = rerr.Error()
		s.opts.Warn(fmt.Sprintf("restore of %s into %s: %v", what, target, rerr))
	}
	s.render(w, r, status, "restored.html", map[string]any{
		"Title": "Restored " + what, "Snapshot": viewOf(sn), "Base": "/s/" + sn.ID().Short(), "What": what,
		"Target": target, "Res": res, "Error": msg, "Elapsed": time.Since(start).Round(10 * time.Microsecond),
	})
}

// describeSelection names what filter f chooses (`album “Holiday”, person
// “Alice”, taken 2024-01-01 to 2024-01-31`). An album, person or user the
// snapshot does not have is ErrNotFound; no filter at all is ErrBadPath.
func describeSelection(g *immich.Gallery, f immich.GalleryFilter, after, before string) (string, error) {
	var parts []string
	if f.AlbumID != "" {
		name := ""
		for _, a := range g.Albums() {
			if a.ID == f.AlbumID {
				name = a.Name
			}
		}
		if name == "" {
			return "", fmt.Errorf("album %q: %w", f.AlbumID, ErrNotFound)
		}
		parts = append(parts, "album “"+name+"”")
	}
	if f.PersonID != "" {
		name, found := "", false
		for _, p := range g.Persons() {
			if p.ID == f.PersonID {
				name, found = p.Name, true
			}
		}
		if !found {
			return "", fmt.Errorf("person %q: %w", f.PersonID, ErrNotFound)
		}
		if name == "" {
			name = "(unnamed " + f.PersonID[:min(8, len(f.PersonID))] + ")"
		}
		parts = append(parts, "person “"+name+"”")
	}
	if f.UserID != "" {
		email := ""
		for _, u := range g.Users() {
			if u.ID == f.UserID {
				email = u.Email
			}
		}
		if email == "" {
			return "", fmt.Errorf("user %q: %w", f.UserID, ErrNotFound)
		}
		parts = append(parts, "user "+email)
	}
	switch {
	case after != "" && before != "":
		parts = append(parts, "taken "+after+" to "+before)
	case after != "":
		parts = append(parts, "taken from "+after)
	case before != "":
		parts = append(parts, "taken until "+before)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("choose an album, a person, a user or dates to restore (the whole library is not restored from the UI): %w", ErrBadPath)
	}
	return strings.Join(parts, ", "), nil
}
