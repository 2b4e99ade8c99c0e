package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/repo"
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
	intoImmich := r.PostFormValue("into") == "immich"
	var target string
	if intoImmich {
		if s.opts.ImmichURL == "" || s.opts.ImmichAPIKey == "" {
			s.fail(w, r, fmt.Errorf("restoring into Immich is not configured on this server (start serve with --to-immich URL and IMMICH_API_KEY): %w", errForbidden))
			return
		}
	} else {
		target, err = s.gal.restoreTarget(r.PostFormValue("folder"))
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				err = fmt.Errorf("%w: %w", err, errForbidden)
			}
			s.fail(w, r, err)
			return
		}
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
	if intoImmich {
		s.uploadSelection(ctx, w, r, sn, g, cfg, ords, what)
		return
	}
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

// uploadSelection uploads the chosen assets into the Immich of the
// server's configuration (Options.ImmichURL/ImmichAPIKey) with
// immich.RestoreToImmich: originals spooled and checked against the dump's
// SHA-1, assets Immich already has skipped, album membership recreated.
func (s *Server) uploadSelection(ctx context.Context, w http.ResponseWriter, r *http.Request, sn *repo.Snapshot, g *immich.Gallery, cfg *immich.Config, ords []int32, what string) {
	start := time.Now()
	tmp, err := os.MkdirTemp("", "immich-vault-upload-")
	if err != nil {
		s.fail(w, r, fmt.Errorf("temporary directory for the upload: %w", err))
		return
	}
	defer os.RemoveAll(tmp)
	api := &immich.APIClient{BaseURL: s.opts.ImmichURL, APIKey: s.opts.ImmichAPIKey}
	res, rerr := immich.RestoreToImmich(ctx, g, ords, cfg, immich.NewSnapshotFiles(s.st.r, sn), api, tmp)
	status, msg := http.StatusOK, ""
	if rerr != nil {
		status = http.StatusBadGateway
		msg = rerr.Error()
		if errors.Is(rerr, immich.ErrAPIAuth) {
			msg += " (check the server's IMMICH_API_KEY: it needs the asset.upload, album.create, album.read and albumAsset.create permissions)"
		}
		s.opts.Warn(fmt.Sprintf("upload of %s into %s: %v", what, s.opts.ImmichURL, rerr))
	}
	s.render(w, r, status, "uploaded.html", map[string]any{
		"Title": "Uploaded " + what, "Snapshot": viewOf(sn), "Base": "/s/" + sn.ID().Short(), "What": what,
		"Immich": s.opts.ImmichURL, "Res": res, "Error": msg, "Elapsed": time.Since(start).Round(10 * time.Microsecond),
	})
}

// immichTarget is the Immich URL the gallery offers to upload into ("" none).
func (s *Server) immichTarget() string {
	if s.opts.ImmichURL == "" || s.opts.ImmichAPIKey == "" {
		return ""
	}
	return s.opts.ImmichURL
}
