package immich

import "sort"

// GalleryDiff is what changed between two galleries of the same library.
// Added and Changed are ordinals in the newer gallery, Removed in the
// older one; all newest first.
type GalleryDiff struct {
	Added, Removed, Changed []int32
	Albums                  []AlbumChange
}

// AlbumChange is an album added, removed, renamed or whose assets changed.
type AlbumChange struct {
	ID, Name, OldName string
	Status            string // added, removed, changed
	Before, After     int    // asset counts
	AssetsAdded       int
	AssetsRemoved     int
}

// DiffGalleries compares an older gallery with a newer one by asset ID: an
// asset whose checksum differs is changed (Immich replaced its original).
func DiffGalleries(older, newer *Gallery) GalleryDiff {
	var d GalleryDiff
	for o := range int32(newer.Len()) {
		po, ok := older.Lookup(newer.ID(o))
		switch {
		case !ok:
			d.Added = append(d.Added, o)
		case older.Checksum(po) != newer.Checksum(o):
			d.Changed = append(d.Changed, o)
		}
	}
	for o := range int32(older.Len()) {
		if _, ok := newer.Lookup(older.ID(o)); !ok {
			d.Removed = append(d.Removed, o)
		}
	}
	oldAlbums := map[string]GalleryAlbum{}
	for _, a := range older.Albums() {
		oldAlbums[a.ID] = a
	}
	ids := func(g *Gallery, ords []int32) map[string]bool {
		m := make(map[string]bool, len(ords))
		for _, o := range ords {
			m[g.ID(o)] = true
		}
		return m
	}
	for _, na := range newer.Albums() {
		oa, ok := oldAlbums[na.ID]
		if !ok {
			d.Albums = append(d.Albums, AlbumChange{ID: na.ID, Name: na.Name, Status: "added", After: len(na.Assets), AssetsAdded: len(na.Assets)})
			continue
		}
		delete(oldAlbums, na.ID)
		before, after := ids(older, oa.Assets), ids(newer, na.Assets)
		c := AlbumChange{ID: na.ID, Name: na.Name, Status: "changed", Before: len(oa.Assets), After: len(na.Assets)}
		if oa.Name != na.Name {
			c.OldName = oa.Name
		}
		for id := range after {
			if !before[id] {
				c.AssetsAdded++
			}
		}
		for id := range before {
			if !after[id] {
				c.AssetsRemoved++
			}
		}
		if c.OldName != "" || c.AssetsAdded > 0 || c.AssetsRemoved > 0 {
			d.Albums = append(d.Albums, c)
		}
	}
	for _, oa := range oldAlbums {
		d.Albums = append(d.Albums, AlbumChange{ID: oa.ID, Name: oa.Name, Status: "removed", Before: len(oa.Assets), AssetsRemoved: len(oa.Assets)})
	}
	sort.SliceStable(d.Albums, func(i, j int) bool { return d.Albums[i].Name < d.Albums[j].Name })
	return d
}
