package immich

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A v3-style dump (album owner in album_user, thumbnails in asset_file,
// faces, stacks, a live photo) and a legacy one give the same gallery.
const galleryDumpCurrent = `
COPY public.album (id, "albumName", "deletedAt") FROM stdin;
al1	Holiday	\N
al2	Gone	2024-01-01 00:00:00+00
\.
COPY public.album_asset ("albumId", "assetId", "createdAt") FROM stdin;
al1	a1	2024-01-01 00:00:00+00
al1	a3	2024-01-01 00:00:00+00
al1	nope	2024-01-01 00:00:00+00
\.
COPY public.album_user ("albumId", "userId", role) FROM stdin;
al1	u1	owner
\.
COPY public.asset (id, "ownerId", type, "originalPath", "originalFileName", checksum, "checksumAlgorithm", "fileCreatedAt", "fileModifiedAt", "livePhotoVideoId", "stackId", visibility, "deletedAt", "deviceAssetId", "deviceId") FROM stdin;
a1	u1	IMAGE	/data/upload/u1/a1.jpg	IMG_1.jpg	\\x00112233445566778899aabbccddeeff00112233	sha1	2024-06-01 10:00:00+00	2024-06-01 10:00:01+00	v1	\N	timeline	\N	dev-a1	phone
v1	u1	VIDEO	/data/upload/u1/v1.mov	IMG_1.mov	\\x0011223344556677889900000000000000000000	sha1	2024-06-01 10:00:00+00	2024-06-01 10:00:00+00	\N	\N	hidden	\N	dev-v1	phone
a2	u2	IMAGE	/data/upload/u2/a2.jpg	b.jpg	\\x0011223344556677889900000000000000000001	sha1	2023-01-01 08:30:00.123+05:30	2023-01-01 08:30:00+05:30	\N	s1	timeline	\N	x	y
a3	u2	IMAGE	/data/upload/u2/a3.jpg	c.jpg	\\x0011223344556677889900000000000000000002	sha1	2022-01-01 00:00:00+00	2022-01-01 00:00:00+00	\N	s1	timeline	\N	x	y
a4	u2	IMAGE	/data/upload/u2/a4.jpg	d.jpg	\\x0011223344556677889900000000000000000003	sha1	2025-01-01 00:00:00+00	2025-01-01 00:00:00+00	\N	\N	timeline	2025-02-01 00:00:00+00	x	y
\.
COPY public.asset_face (id, "assetId", "personId", "deletedAt") FROM stdin;
f1	a2	p1	\N
f2	a1	p1	\N
f3	a3	p1	2024-01-01 00:00:00+00
\.
COPY public.asset_file (id, "assetId", type, path, "isEdited") FROM stdin;
x1	a1	thumbnail	/data/thumbs/u1/a1_thumbnail.webp	f
x2	a1	preview	/data/thumbs/u1/a1_preview.jpeg	f
x3	a1	sidecar	/data/upload/u1/a1.jpg.xmp	f
x4	a1	preview	/data/thumbs/u1/a1_edited_preview.jpeg	t
\.
COPY public.person (id, "ownerId", name) FROM stdin;
p1	u1	Alice
\.
COPY public."user" (id, email, name) FROM stdin;
u1	admin@example.com	Admin
u2	bob@example.com	Bob
\.
`

const galleryDumpLegacy = `
COPY public.albums (id, "ownerId", "albumName") FROM stdin;
al1	u1	Holiday
\.
COPY public.albums_assets_assets ("albumsId", "assetsId") FROM stdin;
al1	a1
al1	a3
\.
COPY public.asset_faces (id, "assetId", "personId") FROM stdin;
f1	a2	p1
f2	a1	p1
\.
COPY public.assets (id, "ownerId", type, "originalPath", "originalFileName", checksum, "fileCreatedAt", "fileModifiedAt", "livePhotoVideoId", "stackId", "isVisible", "deletedAt", "sidecarPath") FROM stdin;
a1	u1	IMAGE	upload/upload/u1/a1.jpg	IMG_1.jpg	\\x00112233445566778899aabbccddeeff00112233	2024-06-01 10:00:00+00	2024-06-01 10:00:01+00	v1	\N	t	\N	upload/upload/u1/a1.jpg.xmp
v1	u1	VIDEO	upload/upload/u1/v1.mov	IMG_1.mov	\\x0011223344556677889900000000000000000000	2024-06-01 10:00:00+00	2024-06-01 10:00:00+00	\N	\N	f	\N	\N
a2	u2	IMAGE	upload/upload/u2/a2.jpg	b.jpg	\\x0011223344556677889900000000000000000001	2023-01-01 08:30:00.123+05:30	2023-01-01 08:30:00+05:30	\N	s1	t	\N	\N
a3	u2	IMAGE	upload/upload/u2/a3.jpg	c.jpg	\\x0011223344556677889900000000000000000002	2022-01-01 00:00:00+00	2022-01-01 00:00:00+00	\N	s1	t	\N	\N
a4	u2	IMAGE	upload/upload/u2/a4.jpg	d.jpg	\\x0011223344556677889900000000000000000003	2025-01-01 00:00:00+00	2025-01-01 00:00:00+00	\N	\N	t	2025-02-01 00:00:00+00	\N
\.
COPY public.asset_files (id, "assetId", type, path) FROM stdin;
x1	a1	thumbnail	upload/thumbs/u1/a1_thumbnail.webp
\.
COPY public.person (id, "ownerId", name) FROM stdin;
p1	u1	Alice
\.
COPY public.users (id, email, name) FROM stdin;
u1	admin@example.com	Admin
u2	bob@example.com	Bob
\.
`

func ids(g *Gallery, ords []int32) string {
	var s []string
	for _, o := range ords {
		s = append(s, g.ID(o))
	}
	return strings.Join(s, ",")
}

func TestGalleryBothSchemas(t *testing.T) {
	for _, tc := range []struct{ name, dump, schema, thumb, sidecar string }{
		{"current", galleryDumpCurrent, "v1.136+", "/data/thumbs/u1/a1_thumbnail.webp", "/data/upload/u1/a1.jpg.xmp"},
		{"legacy", galleryDumpLegacy, "legacy", "upload/thumbs/u1/a1_thumbnail.webp", "upload/upload/u1/a1.jpg.xmp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "g.gallery")
			g, err := BuildGallery(strings.NewReader(tc.dump), p)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if g.Schema() != tc.schema || g.Len() != 5 {
				t.Fatalf("schema %s len %d", g.Schema(), g.Len())
			}
			// Newest first; hidden (live video) and trashed left out.
			if got := ids(g, g.Filter(GalleryFilter{})); got != "a1,a2,a3" {
				t.Errorf("timeline %s", got)
			}
			if got := ids(g, g.Filter(GalleryFilter{Hidden: true, Deleted: true})); got != "a4,a1,v1,a2,a3" {
				t.Errorf("all %s", got)
			}
			al := g.Albums()
			if len(al) != 1 || al[0].Name != "Holiday" || al[0].OwnerID != "u1" {
				t.Fatalf("albums %+v", al)
			}
			if got := ids(g, g.Filter(GalleryFilter{AlbumID: "al1"})); got != "a1,a3" {
				t.Errorf("album %s", got)
			}
			if got := ids(g, g.Filter(GalleryFilter{PersonID: "p1"})); got != "a1,a2" {
				t.Errorf("person %s", got)
			}
			if got := ids(g, g.Filter(GalleryFilter{UserID: "u2"})); got != "a2,a3" {
				t.Errorf("user %s", got)
			}
			if got := ids(g, g.Filter(GalleryFilter{After: time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC), Before: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})); got != "a2" {
				t.Errorf("dates %s", got)
			}
			o, _ := g.Lookup("a1")
			a, err := g.Asset(o)
			if err != nil {
				t.Fatal(err)
			}
			if a.Thumbnail != tc.thumb || a.Sidecar != tc.sidecar || a.Checksum != "00112233445566778899aabbccddeeff00112233" || a.LivePhotoVideoID != "v1" || a.OriginalFileName != "IMG_1.jpg" {
				t.Errorf("asset %+v", a)
			}
			if tc.name == "current" && (a.Preview != "/data/thumbs/u1/a1_preview.jpeg" || a.DeviceAssetID != "dev-a1") {
				t.Errorf("asset %+v (the edited preview must not replace the original's)", a)
			}
			o2, _ := g.Lookup("a2")
			a2, _ := g.Asset(o2)
			if want := time.Date(2023, 1, 1, 3, 0, 0, 123e6, time.UTC); !a2.Taken.Equal(want) {
				t.Errorf("taken %v want %v", a2.Taken, want)
			}
			// Selection: album Holiday → a1, a3; expanded with the live
			// video v1 and a3's stack mate a2.
			sel, err := g.Select(Selection{Albums: []string{"holiday"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(g, g.Expand(sel)); got != "a1,v1,a2,a3" {
				t.Errorf("expanded album %s", got)
			}
			sel, _ = g.Select(Selection{Persons: []string{"Alice"}, Users: []string{"BOB@example.com"}})
			if got := ids(g, sel); got != "a2" {
				t.Errorf("person∧user %s", got)
			}
			if _, err := g.Select(Selection{Albums: []string{"Nope"}}); err == nil || !strings.Contains(err.Error(), `"Holiday"`) {
				t.Errorf("unknown album: %v", err)
			}
			// Reopened from disk: the same.
			g2, err := OpenGallery(p)
			if err != nil {
				t.Fatal(err)
			}
			defer g2.Close()
			if got := ids(g2, g2.Filter(GalleryFilter{AlbumID: "al1"})); got != "a1,a3" {
				t.Errorf("reopened album %s", got)
			}
		})
	}
}

func TestGalleryNotImmich(t *testing.T) {
	_, err := BuildGallery(strings.NewReader("COPY public.foo (a) FROM stdin;\n1\n\\.\n"), filepath.Join(t.TempDir(), "g"))
	if err == nil {
		t.Fatal("no error for a dump without assets")
	}
	if _, err := OpenGallery("/dev/null"); err == nil {
		t.Fatal("opened /dev/null")
	}
}

func TestGalleryDiff(t *testing.T) {
	dir := t.TempDir()
	older, err := BuildGallery(strings.NewReader(galleryDumpCurrent), filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer older.Close()
	// Newer: a3 gone (and out of the album), a2's original replaced, a5
	// new and added to Holiday, album "New" created.
	newerDump := strings.Replace(galleryDumpCurrent, "al1\ta3\t2024-01-01 00:00:00+00\n", "al1\ta5\t2024-01-01 00:00:00+00\n", 1)
	newerDump = strings.Replace(newerDump, "a3\tu2\tIMAGE\t/data/upload/u2/a3.jpg\tc.jpg\t\\\\x0011223344556677889900000000000000000002", "a5\tu2\tIMAGE\t/data/upload/u2/a5.jpg\te.jpg\t\\\\x0011223344556677889900000000000000000005", 1)
	newerDump = strings.Replace(newerDump, "\\\\x0011223344556677889900000000000000000001", "\\\\x00112233445566778899000000000000000000ff", 1)
	newerDump = strings.Replace(newerDump, "al2\tGone\t2024-01-01 00:00:00+00\n", "al2\tGone\t2024-01-01 00:00:00+00\nal3\tNew\t\\N\n", 1)
	newer, err := BuildGallery(strings.NewReader(newerDump), filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	d := DiffGalleries(older, newer)
	if got := ids(newer, d.Added); got != "a5" {
		t.Errorf("added %s", got)
	}
	if got := ids(older, d.Removed); got != "a3" {
		t.Errorf("removed %s", got)
	}
	if got := ids(newer, d.Changed); got != "a2" {
		t.Errorf("changed %s", got)
	}
	if len(d.Albums) != 2 || d.Albums[0].Name != "Holiday" || d.Albums[0].AssetsAdded != 1 || d.Albums[0].AssetsRemoved != 1 ||
		d.Albums[1].Name != "New" || d.Albums[1].Status != "added" {
		t.Errorf("albums %+v", d.Albums)
	}
}

// TestGallerySize indexes a dump of 100,000 assets and logs the index's
// size on disk, the memory an open gallery holds and the build time.
func TestGallerySize(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 assets")
	}
	var b strings.Builder
	b.WriteString("COPY public.asset (id, \"ownerId\", type, \"originalPath\", \"originalFileName\", checksum, \"fileCreatedAt\") FROM stdin;\n")
	for i := range 100_000 {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		fmt.Fprintf(&b, "%s\tu1\tIMAGE\t/data/upload/u1/%s/%s/%s.jpg\tIMG_%06d.jpg\t\\\\x%040x\t2024-01-01 00:00:00+00\n", id, id[0:2], id[2:4], id, i, i)
	}
	b.WriteString("\\.\nCOPY public.asset_file (id, \"assetId\", type, path) FROM stdin;\n")
	for i := range 100_000 {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		fmt.Fprintf(&b, "t%d\t%s\tthumbnail\t/data/thumbs/u1/%s/%s/%s_thumbnail.webp\n", i, id, id[0:2], id[2:4], id)
		fmt.Fprintf(&b, "p%d\t%s\tpreview\t/data/thumbs/u1/%s/%s/%s_preview.jpeg\n", i, id, id[0:2], id[2:4], id)
	}
	b.WriteString("\\.\nCOPY public.\"user\" (id, email, name) FROM stdin;\nu1\ta@example.com\tA\n\\.\n")
	dump := b.String()
	p := filepath.Join(t.TempDir(), "g")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	g, err := BuildGallery(strings.NewReader(dump), p)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	g.Close()
	runtime.GC()
	runtime.ReadMemStats(&before)
	g, err = OpenGallery(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	runtime.GC()
	runtime.ReadMemStats(&after)
	fi, _ := os.Stat(p)
	if got := len(g.Filter(GalleryFilter{})); got != 100_000 {
		t.Fatalf("%d assets", got)
	}
	t.Logf("100,000 assets: dump %d MiB indexed in %v; index file %d MiB; an open gallery holds %d MiB of heap",
		len(dump)>>20, took.Round(time.Millisecond), fi.Size()>>20, (int64(after.HeapAlloc)-int64(before.HeapAlloc))>>20)
}

// FuzzBuildGallery: any dump either fails cleanly or gives a gallery whose
// every asset can be read back and filtered.
func FuzzBuildGallery(f *testing.F) {
	f.Add(galleryDumpCurrent)
	f.Add(galleryDumpLegacy)
	f.Add("COPY public.asset (id) FROM stdin;\n\\N\nx\n\\.\n")
	f.Fuzz(func(t *testing.T, dump string) {
		g, err := BuildGallery(strings.NewReader(dump), filepath.Join(t.TempDir(), "g"))
		if err != nil {
			return
		}
		defer g.Close()
		for o := range int32(g.Len()) {
			if _, err := g.Asset(o); err != nil {
				t.Fatalf("asset %d: %v", o, err)
			}
		}
		all := g.Filter(GalleryFilter{Hidden: true, Deleted: true})
		if len(all) != g.Len() {
			t.Fatalf("filter without conditions: %d of %d", len(all), g.Len())
		}
		g.Expand(all)
		for _, a := range g.Albums() {
			g.Filter(GalleryFilter{AlbumID: a.ID})
		}
	})
}
