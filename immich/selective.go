package immich

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/restorer"
)

// Selection names what a selective restore takes. Values of one kind are
// alternatives (album A or album B); kinds combine with AND (album A, taken
// after D). An empty selection is refused: use a full restore.
type Selection struct {
	Albums  []string // album names, case-insensitive
	Persons []string // person names, case-insensitive
	Users   []string // user e-mails, case-insensitive
	// After and Before bound the date taken: After ≤ taken < Before.
	After, Before time.Time
}

// Empty reports whether sel chooses nothing.
func (sel Selection) Empty() bool {
	return len(sel.Albums) == 0 && len(sel.Persons) == 0 && len(sel.Users) == 0 && sel.After.IsZero() && sel.Before.IsZero()
}

// ErrNoMatch: a name of a selection matches no album, person or user.
var ErrNoMatch = errors.New("immich: no such album, person or user in the snapshot")

// Select returns the ordinals of the assets sel chooses, before Expand.
// Trashed assets are left out; the video parts of live photos are reached
// through Expand.
func (g *Gallery) Select(sel Selection) ([]int32, error) {
	if sel.Empty() {
		return nil, errors.New("empty selection")
	}
	var sets [][]int32
	for _, by := range []func() ([]int32, bool, error){
		func() ([]int32, bool, error) {
			return selectBy(g, sel.Albums, g.meta.Albums, "album", "albums",
				func(a GalleryAlbum) string { return a.Name },
				func(a GalleryAlbum) GalleryFilter { return GalleryFilter{AlbumID: a.ID, Hidden: true} })
		},
		func() ([]int32, bool, error) {
			return selectBy(g, sel.Persons, g.meta.Persons, "person", "named people",
				func(p GalleryPerson) string { return p.Name },
				func(p GalleryPerson) GalleryFilter { return GalleryFilter{PersonID: p.ID, Hidden: true} })
		},
		func() ([]int32, bool, error) {
			return selectBy(g, sel.Users, g.meta.Users, "user", "users",
				func(u GalleryUser) string { return u.Email },
				func(u GalleryUser) GalleryFilter { return GalleryFilter{UserID: u.ID} })
		},
	} {
		s, ok, err := by()
		if err != nil {
			return nil, err
		}
		if ok {
			sets = append(sets, s)
		}
	}
	if len(sets) == 0 {
		sets = append(sets, g.Filter(GalleryFilter{}))
	}
	out := sortUnique(sets[0])
	for _, s := range sets[1:] {
		out = intersect(out, sortUnique(s))
	}
	if !sel.After.IsZero() || !sel.Before.IsZero() {
		dated := out[:0:0]
		for _, o := range out {
			t := g.meta.Taken[o]
			if (sel.After.IsZero() || t >= sel.After.Unix()) && (sel.Before.IsZero() || t < sel.Before.Unix()) {
				dated = append(dated, o)
			}
		}
		out = dated
	}
	return out, nil
}

// selectBy returns the assets of every item whose key matches one of the
// wanted names (case-insensitively); ok is false when nothing was asked. A
// wanted name that matches no item is an ErrNoMatch listing the items.
func selectBy[T any](g *Gallery, wanted []string, items []T, what, plural string, key func(T) string, filter func(T) GalleryFilter) (out []int32, ok bool, err error) {
	if len(wanted) == 0 {
		return nil, false, nil
	}
	for _, name := range wanted {
		found := false
		for _, it := range items {
			if strings.EqualFold(key(it), name) {
				found = true
				out = append(out, g.Filter(filter(it))...)
			}
		}
		if !found {
			return nil, false, fmt.Errorf("%w: %s %q (%s: %s)", ErrNoMatch, what, name, plural, names(items, key))
		}
	}
	return out, true, nil
}

func sortUnique(s []int32) []int32 {
	c := append([]int32(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return compactInt32(c)
}

func names[T any](items []T, name func(T) string) string {
	var n []string
	for _, it := range items {
		if s := name(it); s != "" {
			n = append(n, fmt.Sprintf("%q", s))
		}
	}
	if len(n) == 0 {
		return "none"
	}
	if len(n) > 20 {
		n = append(n[:20], "…")
	}
	return strings.Join(n, ", ")
}

// FolderRestoreResult says what RestoreToFolder did.
type FolderRestoreResult struct {
	Assets  int      `json:"assets"`  // assets restored (or already present)
	Files   int      `json:"files"`   // files written (originals and sidecars)
	Bytes   int64    `json:"bytes"`   // bytes written
	Present int      `json:"present"` // files already in the target with the same content
	Written []string `json:"written"` // target-relative names of the files written
	// Problems lists originals that could not be restored (missing from the
	// snapshot, unmapped path, checksum mismatch): the rest is restored.
	Problems []string `json:"problems"`
}

// ErrIncomplete: some chosen originals could not be restored (see
// FolderRestoreResult.Problems).
var ErrIncomplete = errors.New("immich: some originals could not be restored")

// RestoreToFolder writes the originals of assets ords (with their XMP
// sidecars) from src into the directory target, flat, under each asset's
// original file name; a name taken by another file gets "~<asset ID
// prefix>" before its extension. A file already there with the asset's
// SHA-1 is kept (a restore run twice writes nothing). Each original's SHA-1
// is checked against the database's checksum while it is copied; a
// mismatch leaves no file. Files get the asset's modification date. A
// full or read-only target disk stops it (restorer.TargetStop): each file is written
// aside and renamed when whole, so the files there are complete.
func RestoreToFolder(ctx context.Context, g *Gallery, ords []int32, cfg *Config, src FileSource, target string) (*FolderRestoreResult, error) {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return nil, fmt.Errorf("create the target folder: %w", err)
	}
	res := &FolderRestoreResult{Written: []string{}, Problems: []string{}}
	used := map[string]bool{}
	for _, o := range ords {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		a, err := g.Asset(o)
		if err != nil {
			return res, err
		}
		name := safeFileName(a.OriginalFileName, a.ID, path.Ext(a.OriginalPath))
		hp, ok := cfg.HostPath(a.OriginalPath)
		if !ok {
			res.Problems = append(res.Problems, fmt.Sprintf("%s (%s): path not under UPLOAD_LOCATION nor an external-library mount", a.OriginalPath, a.ID))
			continue
		}
		final, present, err := restoreOne(ctx, src, hp, target, name, a.ID, a.Checksum, a.ChecksumAlgo, used, a.modTime())
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if stop := restorer.TargetStop(err); stop != nil {
				// Every later asset would fail the same way.
				return res, fmt.Errorf("%w: %s: %w", stop, target, err)
			}
			res.Problems = append(res.Problems, fmt.Sprintf("%s (asset %s): %v", a.OriginalPath, a.ID, err))
			continue
		}
		res.Assets++
		res.count(final, present, target)
		if a.Sidecar == "" {
			continue
		}
		sp, ok := cfg.HostPath(a.Sidecar)
		if !ok {
			res.Problems = append(res.Problems, fmt.Sprintf("sidecar %s: unmapped path", a.Sidecar))
			continue
		}
		sfinal, spresent, err := restoreOne(ctx, src, sp, target, final+".xmp", a.ID, "", "", used, a.modTime())
		if stop := restorer.TargetStop(err); stop != nil {
			return res, fmt.Errorf("%w: %s: %w", stop, target, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			res.Problems = append(res.Problems, fmt.Sprintf("sidecar %s (asset %s): %v", a.Sidecar, a.ID, err))
			continue
		}
		res.count(sfinal, spresent, target)
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: %d of %d", ErrIncomplete, len(res.Problems), len(ords))
	}
	return res, nil
}

func (res *FolderRestoreResult) count(name string, present bool, target string) {
	if present {
		res.Present++
		return
	}
	res.Files++
	if fi, err := os.Stat(filepath.Join(target, name)); err == nil {
		res.Bytes += fi.Size()
	}
	res.Written = append(res.Written, name)
}

func (a *GalleryAsset) modTime() time.Time {
	if !a.Modified.IsZero() {
		return a.Modified
	}
	return a.Taken
}

// safeFileName makes an original file name usable as one path component.
func safeFileName(name, id, ext string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		name = id + ext
	}
	return name
}

// restoreOne copies the snapshot file hp into target under name (or a
// variant of it) and returns the name used. present: a file with that name
// already held the wanted content (sum given) or the same bytes.
func restoreOne(ctx context.Context, src FileSource, hp, target, name, id, sum, algo string, used map[string]bool, mtime time.Time) (string, bool, error) {
	rc, err := src.Open(ctx, hp)
	if err != nil {
		return "", false, fmt.Errorf("read from the snapshot: %w", err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(target, ".restore-*")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	h := sha1.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), rc); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("read from the snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Close(); err != nil {
		return "", false, err
	}
	got := hex.EncodeToString(h.Sum(nil))
	if sum != "" && (algo == "" || algo == "sha1") && got != sum {
		return "", false, fmt.Errorf("checksum mismatch: the snapshot's file has SHA-1 %s, the database says %s (not restored)", got, sum)
	}
	ext := path.Ext(name)
	candidates := []string{name, strings.TrimSuffix(name, ext) + "~" + shortID(id) + ext}
	for i := 2; i < 100; i++ {
		candidates = append(candidates, fmt.Sprintf("%s~%s-%d%s", strings.TrimSuffix(name, ext), shortID(id), i, ext))
	}
	for _, c := range candidates {
		if used[c] {
			continue
		}
		dst := filepath.Join(target, c)
		if _, err := os.Lstat(dst); err == nil {
			if same, _ := fileSHA1(dst); same == got {
				used[c] = true
				return c, true, nil
			}
			continue
		}
		if !mtime.IsZero() {
			os.Chtimes(tmp.Name(), mtime, mtime)
		}
		if err := os.Rename(tmp.Name(), dst); err != nil {
			return "", false, err
		}
		used[c] = true
		return c, false, nil
	}
	return "", false, fmt.Errorf("no free name for %s in %s", name, target)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func fileSHA1(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
