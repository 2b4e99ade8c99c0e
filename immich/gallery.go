package immich

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// A Gallery is an index of the library an Immich snapshot's database dump
// describes: assets (owner, paths, checksum, dates, live-photo and stack
// links, thumbnail/preview paths from asset_file), albums and their assets,
// people and the assets their faces are on, users. It is built by reading
// the dump once (BuildGallery) into one file: the per-asset records (paths,
// names) stay on disk and are read a page at a time; memory holds only what
// filters and sorts need (about 60 bytes per asset: ID, date, owner, flags,
// record offset) and the album/person membership lists. Safe for concurrent
// use.
type Gallery struct {
	meta galleryMeta
	f    *os.File
	byID map[string]int32
	// stackMembers lists the ordinals of each stack's assets.
	stackMembers [][]int32
}

// GalleryAsset is one asset of a gallery.
type GalleryAsset struct {
	ID               string    `json:"id"`
	OwnerID          string    `json:"owner_id"`
	Type             string    `json:"type"` // IMAGE, VIDEO, AUDIO, OTHER
	OriginalPath     string    `json:"original_path"`
	OriginalFileName string    `json:"original_file_name"`
	Checksum         string    `json:"checksum,omitempty"` // lower-case hex
	ChecksumAlgo     string    `json:"checksum_algorithm,omitempty"`
	Taken            time.Time `json:"taken"` // fileCreatedAt: Immich's date taken
	Modified         time.Time `json:"modified,omitempty"`
	LivePhotoVideoID string    `json:"live_photo_video_id,omitempty"`
	StackID          string    `json:"stack_id,omitempty"`
	Sidecar          string    `json:"sidecar,omitempty"`
	Thumbnail        string    `json:"thumbnail,omitempty"`
	Preview          string    `json:"preview,omitempty"`
	Fullsize         string    `json:"fullsize,omitempty"`
	EncodedVideo     string    `json:"encoded_video,omitempty"`
	DeviceAssetID    string    `json:"device_asset_id,omitempty"`
	DeviceID         string    `json:"device_id,omitempty"`
	Visibility       string    `json:"visibility,omitempty"` // timeline, archive, hidden, locked
	Deleted          bool      `json:"deleted,omitempty"`    // in the trash
	External         bool      `json:"external,omitempty"`   // external library
	Favorite         bool      `json:"favorite,omitempty"`
}

// Hidden reports whether Immich keeps the asset out of its timeline (the
// video part of a live photo, or a trashed asset).
func (a *GalleryAsset) Hidden() bool { return a.Visibility == "hidden" || a.Deleted }

// GalleryUser, GalleryAlbum and GalleryPerson are the gallery's users,
// albums and people. Assets lists ordinals (positions in the gallery's
// order, newest first) of the album's or person's assets, ascending.
type GalleryUser struct{ ID, Email, Name string }

type GalleryAlbum struct {
	ID, Name, OwnerID string
	Assets            []int32
}

type GalleryPerson struct {
	ID, Name, OwnerID string
	Assets            []int32
}

// galleryMeta is the in-memory part of a gallery, stored gob-encoded at
// the end of its file. Asset slices are indexed by ordinal: assets sorted
// by date taken, newest first, then by ID.
type galleryMeta struct {
	Version   int
	Schema    string
	Users     []GalleryUser
	Albums    []GalleryAlbum
	Persons   []GalleryPerson
	IDs       []string
	Taken     []int64 // Unix seconds
	Owner     []int32 // index in Users, -1 unknown
	Flags     []uint8
	Off       []int64 // record offset in the file
	Live      []int32 // ordinal of the live-photo video part, -1 none
	Stack     []int32 // stack number, -1 none
	Checksums []string
}

const (
	flagHidden uint8 = 1 << iota
	flagDeleted
	flagVideo
)

const (
	galleryMagic   = "IVGALLERY1\n"
	galleryVersion = 1
)

// ErrGalleryFile: a gallery file is not one, or is damaged (rebuild it).
var ErrGalleryFile = errors.New("immich: not a valid gallery index file")

// Table and column names of both schema generations (tables were renamed
// in v1.136: assets→asset, albums_assets_assets→album_asset, asset_faces→
// asset_face...; Immich's server/src/schema/tables).
type galleryNames struct {
	asset, assetFile, user, album, albumAsset, albumAssetAlbum, albumAssetAsset, face, person, albumUser string
}

var (
	galleryCurrent = galleryNames{"asset", "asset_file", "user", "album", "album_asset", "albumId", "assetId", "asset_face", "person", "album_user"}
	galleryLegacy  = galleryNames{"assets", "asset_files", "users", "albums", "albums_assets_assets", "albumsId", "assetsId", "asset_faces", "person", ""}
)

var galleryAssetCols = []string{"id", "ownerId", "type", "originalPath", "originalFileName", "checksum", "checksumAlgorithm",
	"fileCreatedAt", "fileModifiedAt", "localDateTime", "livePhotoVideoId", "stackId", "sidecarPath", "previewPath", "thumbnailPath",
	"encodedVideoPath", "deviceAssetId", "deviceId", "visibility", "isVisible", "isArchived", "deletedAt", "libraryId", "isFavorite", "isOffline"}

func galleryWant() map[string][]string {
	w := map[string][]string{}
	for _, n := range []galleryNames{galleryCurrent, galleryLegacy} {
		w[n.asset] = galleryAssetCols
		w[n.assetFile] = []string{"assetId", "type", "path", "isEdited"}
		w[n.user] = []string{"id", "email", "name"}
		w[n.album] = []string{"id", "albumName", "ownerId", "deletedAt"}
		w[n.albumAsset] = []string{n.albumAssetAlbum, n.albumAssetAsset}
		w[n.face] = []string{"assetId", "personId", "deletedAt"}
		w[n.person] = []string{"id", "name", "ownerId"}
	}
	w["album_user"] = []string{"albumId", "userId", "usersId", "albumsId", "role"}
	return w
}

// parseDumpTime reads a timestamptz or timestamp as pg_dump writes it
// (DateStyle ISO): "2024-06-01 10:00:00+00", "...12.345+05:30".
func parseDumpTime(s string) time.Time {
	if s == "" || s == Null {
		return time.Time{}
	}
	for _, l := range []string{"2006-01-02 15:04:05.999999Z07", "2006-01-02 15:04:05.999999Z07:00", "2006-01-02 15:04:05.999999Z07:00:00", "2006-01-02 15:04:05.999999"} {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// BuildGallery reads a plain SQL dump once and writes its gallery index to
// path (atomically: a temporary file renamed into place), then opens it.
// Both schema generations are understood; an unknown one fails with
// ErrSchema. Peak memory is the asset records themselves (a few hundred
// bytes each) while they are sorted, before they go to disk.
func BuildGallery(dump io.Reader, path string) (*Gallery, error) {
	var (
		assets    []*GalleryAsset
		files     = map[string]map[string]string{} // asset ID → type → path
		users     []GalleryUser
		albums    []GalleryAlbum
		albumOwn  = map[string]string{} // album ID → owner (album_user role owner, v3)
		persons   []GalleryPerson
		albumRefs [][2]string // album ID, asset ID
		faceRefs  [][2]string // person ID, asset ID
		schema    string
	)
	get := func(t *Table, row []string, col string) string {
		if i := t.Col(col); i >= 0 && row[i] != Null {
			return row[i]
		}
		return ""
	}
	isLegacy := func(name string) bool {
		switch name {
		case "assets", "asset_files", "users", "albums", "albums_assets_assets", "asset_faces":
			return true
		}
		return false
	}
	tables, err := ScanDump(dump, galleryWant(), func(t *Table, row []string) error {
		g := func(c string) string { return get(t, row, c) }
		switch t.Name {
		case "asset", "assets":
			if schema == "" {
				schema = map[bool]string{true: "legacy", false: "v1.136+"}[isLegacy(t.Name)]
			}
			a := &GalleryAsset{
				ID: g("id"), OwnerID: g("ownerId"), Type: g("type"), OriginalPath: g("originalPath"),
				OriginalFileName: g("originalFileName"), ChecksumAlgo: g("checksumAlgorithm"),
				Taken: parseDumpTime(g("fileCreatedAt")), Modified: parseDumpTime(g("fileModifiedAt")),
				LivePhotoVideoID: g("livePhotoVideoId"), StackID: g("stackId"), Sidecar: g("sidecarPath"),
				Preview: g("previewPath"), Thumbnail: g("thumbnailPath"), EncodedVideo: g("encodedVideoPath"),
				DeviceAssetID: g("deviceAssetId"), DeviceID: g("deviceId"), Visibility: g("visibility"),
				Deleted: g("deletedAt") != "", External: g("libraryId") != "", Favorite: g("isFavorite") == "t",
			}
			if a.ID == "" {
				return nil
			}
			if a.Taken.IsZero() {
				a.Taken = parseDumpTime(g("localDateTime"))
			}
			if a.Visibility == "" { // before v1.133: isVisible, isArchived
				switch {
				case g("isVisible") == "f":
					a.Visibility = "hidden"
				case g("isArchived") == "t":
					a.Visibility = "archive"
				default:
					a.Visibility = "timeline"
				}
			}
			if sum := strings.TrimPrefix(g("checksum"), `\x`); len(sum) == 40 {
				a.Checksum = strings.ToLower(sum)
			}
			assets = append(assets, a)
		case "asset_file", "asset_files":
			if g("isEdited") == "t" {
				return nil // an edited version's files; the gallery shows the original's
			}
			id, typ, p := g("assetId"), g("type"), g("path")
			if id == "" || p == "" {
				return nil
			}
			if files[id] == nil {
				files[id] = map[string]string{}
			}
			files[id][typ] = p
		case "user", "users":
			users = append(users, GalleryUser{ID: g("id"), Email: g("email"), Name: g("name")})
		case "album", "albums":
			if g("deletedAt") != "" {
				return nil
			}
			albums = append(albums, GalleryAlbum{ID: g("id"), Name: g("albumName"), OwnerID: g("ownerId")})
		case "album_user":
			if g("role") == "owner" {
				albumOwn[g("albumId")+g("albumsId")] = g("userId") + g("usersId")
			}
		case "album_asset":
			albumRefs = append(albumRefs, [2]string{g("albumId"), g("assetId")})
		case "albums_assets_assets":
			albumRefs = append(albumRefs, [2]string{g("albumsId"), g("assetsId")})
		case "asset_face", "asset_faces":
			if g("deletedAt") == "" && g("personId") != "" {
				faceRefs = append(faceRefs, [2]string{g("personId"), g("assetId")})
			}
		case "person":
			persons = append(persons, GalleryPerson{ID: g("id"), Name: g("name"), OwnerID: g("ownerId")})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the database dump: %w", err)
	}
	if schema == "" {
		if tables["asset"] == nil && tables["assets"] == nil {
			return nil, fmt.Errorf("%w: no asset or assets table (is this an Immich database?)", ErrSchema)
		}
		schema = "v1.136+"
		if tables["assets"] != nil {
			schema = "legacy"
		}
	}
	for _, a := range assets {
		for typ, p := range files[a.ID] {
			switch typ {
			case "thumbnail":
				a.Thumbnail = p
			case "preview":
				a.Preview = p
			case "fullsize":
				a.Fullsize = p
			case "sidecar":
				a.Sidecar = p
			case "encoded_video":
				a.EncodedVideo = p
			}
		}
	}
	files = nil
	sort.Slice(assets, func(i, j int) bool {
		if !assets[i].Taken.Equal(assets[j].Taken) {
			return assets[i].Taken.After(assets[j].Taken)
		}
		return assets[i].ID < assets[j].ID
	})
	m := galleryMeta{Version: galleryVersion, Schema: schema, Users: users}
	ord := make(map[string]int32, len(assets))
	for i, a := range assets {
		ord[a.ID] = int32(i)
	}
	userIdx := map[string]int32{}
	for i, u := range users {
		userIdx[u.ID] = int32(i)
	}
	stackIdx := map[string]int32{}
	n := len(assets)
	m.IDs, m.Taken, m.Owner, m.Flags = make([]string, n), make([]int64, n), make([]int32, n), make([]uint8, n)
	m.Off, m.Live, m.Stack, m.Checksums = make([]int64, n), make([]int32, n), make([]int32, n), make([]string, n)

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".gallery-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	off := int64(len(galleryMagic))
	bw.WriteString(galleryMagic)
	var lenBuf [binary.MaxVarintLen64]byte
	for i, a := range assets {
		m.IDs[i], m.Taken[i], m.Checksums[i] = a.ID, a.Taken.Unix(), a.Checksum
		if a.Taken.IsZero() {
			m.Taken[i] = 0
		}
		o, ok := userIdx[a.OwnerID]
		if !ok {
			o = -1
		}
		m.Owner[i] = o
		if a.Visibility == "hidden" {
			m.Flags[i] |= flagHidden
		}
		if a.Deleted {
			m.Flags[i] |= flagDeleted
		}
		if a.Type == "VIDEO" {
			m.Flags[i] |= flagVideo
		}
		m.Live[i] = -1
		if l, ok := ord[a.LivePhotoVideoID]; ok && a.LivePhotoVideoID != "" {
			m.Live[i] = l
		}
		m.Stack[i] = -1
		if a.StackID != "" {
			s, ok := stackIdx[a.StackID]
			if !ok {
				s = int32(len(stackIdx))
				stackIdx[a.StackID] = s
			}
			m.Stack[i] = s
		}
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		k := binary.PutUvarint(lenBuf[:], uint64(len(b)))
		m.Off[i] = off
		bw.Write(lenBuf[:k])
		bw.Write(b)
		off += int64(k + len(b))
	}
	for i := range albums {
		if o := albumOwn[albums[i].ID]; o != "" && albums[i].OwnerID == "" {
			albums[i].OwnerID = o
		}
	}
	m.Albums = attach(albums, albumRefs, ord, func(a *GalleryAlbum) (string, *[]int32) { return a.ID, &a.Assets })
	m.Persons = attach(persons, faceRefs, ord, func(p *GalleryPerson) (string, *[]int32) { return p.ID, &p.Assets })
	sort.SliceStable(m.Albums, func(i, j int) bool { return strings.ToLower(m.Albums[i].Name) < strings.ToLower(m.Albums[j].Name) })
	sort.SliceStable(m.Persons, func(i, j int) bool { return strings.ToLower(m.Persons[i].Name) < strings.ToLower(m.Persons[j].Name) })
	assets = nil
	if err := gob.NewEncoder(bw).Encode(&m); err != nil {
		return nil, err
	}
	var trailer [8]byte
	binary.BigEndian.PutUint64(trailer[:], uint64(off))
	bw.Write(trailer[:])
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write gallery index: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	return OpenGallery(path)
}

// attach fills each item's asset list from (item ID, asset ID) pairs,
// as sorted unique ordinals; pairs naming an unknown asset are dropped.
func attach[T any](items []T, refs [][2]string, ord map[string]int32, key func(*T) (string, *[]int32)) []T {
	pos := map[string]int{}
	for i := range items {
		id, _ := key(&items[i])
		pos[id] = i
	}
	for _, r := range refs {
		i, ok := pos[r[0]]
		o, ok2 := ord[r[1]]
		if !ok || !ok2 {
			continue
		}
		_, l := key(&items[i])
		*l = append(*l, o)
	}
	for i := range items {
		_, l := key(&items[i])
		s := *l
		sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
		*l = compactInt32(s)
	}
	return items
}

func compactInt32(s []int32) []int32 {
	if len(s) < 2 {
		return s
	}
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// OpenGallery opens a gallery file BuildGallery wrote.
func OpenGallery(path string) (*Gallery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	g, err := openGallery(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

func openGallery(f *os.File) (*Gallery, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size < int64(len(galleryMagic))+8 {
		return nil, ErrGalleryFile
	}
	magic := make([]byte, len(galleryMagic))
	if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != galleryMagic {
		return nil, ErrGalleryFile
	}
	var trailer [8]byte
	if _, err := f.ReadAt(trailer[:], size-8); err != nil {
		return nil, err
	}
	metaOff := int64(binary.BigEndian.Uint64(trailer[:]))
	if metaOff < int64(len(galleryMagic)) || metaOff > size-8 {
		return nil, ErrGalleryFile
	}
	g := &Gallery{f: f}
	if err := gob.NewDecoder(io.NewSectionReader(f, metaOff, size-8-metaOff)).Decode(&g.meta); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGalleryFile, err)
	}
	m := &g.meta
	n := len(m.IDs)
	if m.Version != galleryVersion || len(m.Taken) != n || len(m.Owner) != n || len(m.Flags) != n || len(m.Off) != n ||
		len(m.Live) != n || len(m.Stack) != n || len(m.Checksums) != n {
		return nil, ErrGalleryFile
	}
	g.byID = make(map[string]int32, n)
	for i, id := range m.IDs {
		g.byID[id] = int32(i)
	}
	for i, s := range m.Stack {
		if s < 0 {
			continue
		}
		for int(s) >= len(g.stackMembers) {
			g.stackMembers = append(g.stackMembers, nil)
		}
		g.stackMembers[s] = append(g.stackMembers[s], int32(i))
	}
	return g, nil
}

// Close closes the gallery's file.
func (g *Gallery) Close() error { return g.f.Close() }

// Schema is "v1.136+" or "legacy", as Catalog.Schema.
func (g *Gallery) Schema() string { return g.meta.Schema }

// Len is the number of assets.
func (g *Gallery) Len() int { return len(g.meta.IDs) }

// Users, Albums and Persons return the gallery's lists (shared: do not
// modify). Albums and persons are sorted by name.
func (g *Gallery) Users() []GalleryUser     { return g.meta.Users }
func (g *Gallery) Albums() []GalleryAlbum   { return g.meta.Albums }
func (g *Gallery) Persons() []GalleryPerson { return g.meta.Persons }

// Lookup returns the ordinal of asset id.
func (g *Gallery) Lookup(id string) (int32, bool) {
	o, ok := g.byID[id]
	return o, ok
}

// ID and Checksum return fields of asset o without reading its record.
func (g *Gallery) ID(o int32) string       { return g.meta.IDs[o] }
func (g *Gallery) Checksum(o int32) string { return g.meta.Checksums[o] }

// Asset reads asset o's record from disk.
func (g *Gallery) Asset(o int32) (*GalleryAsset, error) {
	if o < 0 || int(o) >= len(g.meta.Off) {
		return nil, fmt.Errorf("asset ordinal %d out of range", o)
	}
	off := g.meta.Off[o]
	var hdr [binary.MaxVarintLen64]byte
	n, err := g.f.ReadAt(hdr[:], off)
	if n == 0 {
		return nil, fmt.Errorf("%w: %v", ErrGalleryFile, err)
	}
	l, k := binary.Uvarint(hdr[:n])
	if k <= 0 || l > 1<<20 {
		return nil, ErrGalleryFile
	}
	b := make([]byte, l)
	if _, err := g.f.ReadAt(b, off+int64(k)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGalleryFile, err)
	}
	a := &GalleryAsset{}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGalleryFile, err)
	}
	return a, nil
}

// GalleryFilter chooses assets. Zero fields do not filter; set fields are
// combined with AND.
type GalleryFilter struct {
	UserID   string
	AlbumID  string
	PersonID string
	// After and Before bound the date taken: After ≤ taken < Before.
	After, Before time.Time
	// Hidden includes assets Immich keeps out of its timeline (live-photo
	// video parts); Deleted includes assets in the trash.
	Hidden, Deleted bool
}

// Filter returns the ordinals (newest first) of the assets f chooses. It
// holds one int32 per match: a page of a 100,000-asset gallery costs a
// scan of the in-memory columns, no record is read.
func (g *Gallery) Filter(f GalleryFilter) []int32 {
	m := &g.meta
	var cand []int32
	all := true
	if f.AlbumID != "" {
		all = false
		for _, a := range m.Albums {
			if a.ID == f.AlbumID {
				cand = a.Assets
			}
		}
	}
	if f.PersonID != "" {
		var pa []int32
		for _, p := range m.Persons {
			if p.ID == f.PersonID {
				pa = p.Assets
			}
		}
		if all {
			cand, all = pa, false
		} else {
			cand = intersect(cand, pa)
		}
	}
	owner := int32(-2)
	if f.UserID != "" {
		owner = -3 // no such user: nothing matches
		for i, u := range m.Users {
			if u.ID == f.UserID {
				owner = int32(i)
			}
		}
	}
	after, before := int64(-1<<63), int64(1<<63-1)
	if !f.After.IsZero() {
		after = f.After.Unix()
	}
	if !f.Before.IsZero() {
		before = f.Before.Unix()
	}
	keep := func(o int32) bool {
		fl := m.Flags[o]
		if fl&flagHidden != 0 && !f.Hidden || fl&flagDeleted != 0 && !f.Deleted {
			return false
		}
		if owner != -2 && m.Owner[o] != owner {
			return false
		}
		t := m.Taken[o]
		return t >= after && t < before
	}
	var out []int32
	if all {
		for o := range int32(len(m.IDs)) {
			if keep(o) {
				out = append(out, o)
			}
		}
		return out
	}
	for _, o := range cand {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}

func intersect(a, b []int32) []int32 {
	var out []int32
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// AlbumsOf and PersonsOf name the albums and people asset o belongs to.
func (g *Gallery) AlbumsOf(o int32) []GalleryAlbum {
	var out []GalleryAlbum
	for _, a := range g.meta.Albums {
		if contains(a.Assets, o) {
			out = append(out, a)
		}
	}
	return out
}

func (g *Gallery) PersonsOf(o int32) []GalleryPerson {
	var out []GalleryPerson
	for _, p := range g.meta.Persons {
		if contains(p.Assets, o) {
			out = append(out, p)
		}
	}
	return out
}

func contains(s []int32, v int32) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i] >= v })
	return i < len(s) && s[i] == v
}

// User returns the user with id, if any.
func (g *Gallery) User(id string) (GalleryUser, bool) {
	for _, u := range g.meta.Users {
		if u.ID == id {
			return u, true
		}
	}
	return GalleryUser{}, false
}

// Expand adds to the chosen assets what belongs with them: the video part
// of each live photo and the other members of each stack. The result is
// sorted and unique.
func (g *Gallery) Expand(ords []int32) []int32 {
	seen := map[int32]bool{}
	var out []int32
	var add func(o int32)
	add = func(o int32) {
		if o < 0 || seen[o] {
			return
		}
		seen[o] = true
		out = append(out, o)
		add(g.meta.Live[o])
		if s := g.meta.Stack[o]; s >= 0 {
			for _, m := range g.stackMembers[s] {
				add(m)
			}
		}
	}
	for _, o := range ords {
		add(o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
