package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/immich-vault/immich-vault/immich"
)

// diffListMax bounds each list of the diff page (the counts are complete).
const diffListMax = 500

// diffPage compares the galleries of two Immich snapshots: ?a=OLDER&b=NEWER.
func (s *Server) diffPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sa, err := s.st.snapshot(r.Context(), q.Get("a"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sb, err := s.st.snapshot(r.Context(), q.Get("b"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if sa.Time.After(sb.Time) {
		sa, sb = sb, sa
	}
	ga, _, err := s.snapshotGallery(r.Context(), sa)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gb, _, err := s.snapshotGallery(r.Context(), sb)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := immich.DiffGalleries(ga, gb)
	list := func(g *immich.Gallery, ords []int32, base string) ([]galleryItem, error) {
		var out []galleryItem
		for _, o := range ords[:min(len(ords), diffListMax)] {
			a, err := g.Asset(o)
			if err != nil {
				return nil, err
			}
			out = append(out, galleryItem{ID: a.ID, Name: a.OriginalFileName, Type: a.Type, Taken: a.Taken,
				Href: base + "/asset/" + url.PathEscape(a.ID), Thumb: base + "/thumb/" + url.PathEscape(a.ID)})
		}
		return out, nil
	}
	baseA, baseB := "/s/"+sa.ID().Short(), "/s/"+sb.ID().Short()
	added, err := list(gb, d.Added, baseB)
	if err == nil {
		var removed, changed []galleryItem
		if removed, err = list(ga, d.Removed, baseA); err == nil {
			if changed, err = list(gb, d.Changed, baseB); err == nil {
				s.render(w, r, http.StatusOK, "diff.html", map[string]any{
					"Title": fmt.Sprintf("Changes %s → %s", sa.ID().Short(), sb.ID().Short()),
					"A":     viewOf(sa), "B": viewOf(sb), "Added": added, "Removed": removed, "Changed": changed,
					"NAdded": len(d.Added), "NRemoved": len(d.Removed), "NChanged": len(d.Changed), "Albums": d.Albums,
					"Max": diffListMax,
				})
				return
			}
		}
	}
	s.fail(w, r, err)
}
