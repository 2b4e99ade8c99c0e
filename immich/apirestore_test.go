package immich

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/immichtest"
)

// mapFiles is a FileSource over files in memory (host paths).
type mapFiles map[string][]byte

func (m mapFiles) Stat(_ context.Context, p string) (int64, error) {
	b, ok := m[p]
	if !ok {
		return 0, os.ErrNotExist
	}
	return int64(len(b)), nil
}

func (m mapFiles) Open(_ context.Context, p string) (io.ReadCloser, error) {
	b, ok := m[p]
	if !ok {
		return nil, fmt.Errorf("%s: %w", p, os.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// apiLibrary is a gallery of five assets whose originals are real bytes:
// a1 (album Holiday, favourite, sidecar) is a live photo with video v1; a2
// and a3 are stacked; a3 is in Holiday; a4 is in the trash.
func apiLibrary(t *testing.T) (*Gallery, *Config, mapFiles) {
	files := mapFiles{}
	content := map[string][]byte{}
	sum := func(id string) string {
		b := []byte("original bytes of " + id + strings.Repeat("x", len(id)*100))
		content[id] = b
		s := sha1.Sum(b)
		return hex.EncodeToString(s[:])
	}
	rows := ""
	for _, a := range []struct{ id, name, taken, live, stack, vis, deleted, fav string }{
		{"11111111-0000-4000-8000-000000000001", "IMG_1.jpg", "2024-06-01 10:00:00+00", "11111111-0000-4000-8000-0000000000f1", `\N`, "timeline", `\N`, "t"},
		{"11111111-0000-4000-8000-0000000000f1", "IMG_1.mov", "2024-06-01 10:00:00+00", `\N`, `\N`, "hidden", `\N`, "f"},
		{"11111111-0000-4000-8000-000000000002", "b.jpg", "2023-01-01 08:30:00+00", `\N`, "s1", "archive", `\N`, "f"},
		{"11111111-0000-4000-8000-000000000003", "c.jpg", "2022-01-01 00:00:00+00", `\N`, "s1", "timeline", `\N`, "f"},
		{"11111111-0000-4000-8000-000000000004", "d.jpg", "2021-01-01 00:00:00+00", `\N`, `\N`, "timeline", "2025-01-01 00:00:00+00", "f"},
	} {
		live := a.live
		rows += fmt.Sprintf("%s\tu1\tIMAGE\t/data/upload/u1/%s\t%s\t\\\\x%s\tsha1\t%s\t%s\t%s\t%s\t%s\t%s\tdev-%s\tphone\t%s\n",
			a.id, a.name, a.name, sum(a.id), a.taken, a.taken, live, a.stack, a.vis, a.deleted, a.name, a.fav)
		files["/srv/immich/upload/u1/"+a.name] = content[a.id]
	}
	files["/srv/immich/upload/u1/IMG_1.jpg.xmp"] = []byte("<x:xmpmeta/>")
	dump := "COPY public.album (id, \"albumName\") FROM stdin;\nal1\tHoliday\n\\.\n" +
		"COPY public.album_asset (\"albumId\", \"assetId\") FROM stdin;\nal1\t11111111-0000-4000-8000-000000000001\nal1\t11111111-0000-4000-8000-000000000003\n\\.\n" +
		"COPY public.asset (id, \"ownerId\", type, \"originalPath\", \"originalFileName\", checksum, \"checksumAlgorithm\", \"fileCreatedAt\", \"fileModifiedAt\", \"livePhotoVideoId\", \"stackId\", visibility, \"deletedAt\", \"deviceAssetId\", \"deviceId\", \"isFavorite\") FROM stdin;\n" + rows + "\\.\n" +
		"COPY public.asset_file (id, \"assetId\", type, path) FROM stdin;\nx\t11111111-0000-4000-8000-000000000001\tsidecar\t/data/upload/u1/IMG_1.jpg.xmp\n\\.\n" +
		"COPY public.\"user\" (id, email, name) FROM stdin;\nu1\ta@example.com\tA\n\\.\n"
	g, err := BuildGallery(strings.NewReader(dump), filepath.Join(t.TempDir(), "g"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, &Config{UploadLocation: "/srv/immich"}, files
}

// TestRestoreToImmich restores album Holiday into the Immich API double:
// the originals arrive with their dates, device IDs, favourite flag,
// sidecar and live-photo link (video first, hidden), the stack mate comes
// along, the album is recreated with its members; a second run uploads
// nothing; an asset Immich already has is not uploaded but still put in
// the album; a failing upload is reported and the rest goes on; a wrong
// API key stops at once.
func TestRestoreToImmich(t *testing.T) {
	g, cfg, files := apiLibrary(t)
	api := immichtest.StartAPI(t)
	c := &APIClient{BaseURL: api.URL, APIKey: api.APIKey}
	ctx := context.Background()
	sel, err := g.Select(Selection{Albums: []string{"Holiday"}})
	if err != nil {
		t.Fatal(err)
	}
	ords := g.Expand(sel) // a1, v1, b (stack mate of c), c
	if len(ords) != 4 {
		t.Fatalf("%d assets chosen", len(ords))
	}
	// c.jpg is already in Immich (uploaded by a phone, say).
	pre := api.AddAsset(files["/srv/immich/upload/u1/c.jpg"], "c.jpg")
	res, err := RestoreToImmich(ctx, g, ords, cfg, files, c, t.TempDir())
	if err != nil {
		t.Fatalf("%v %+v", err, res)
	}
	if res.Uploaded != 3 || res.Present != 1 || len(res.Albums) != 1 {
		t.Errorf("result %+v", res)
	}
	img := api.ByName("IMG_1.jpg")
	vid := api.ByName("IMG_1.mov")
	if len(img) != 1 || len(vid) != 1 {
		t.Fatalf("uploads: %d IMG_1.jpg, %d IMG_1.mov", len(img), len(vid))
	}
	want := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	if a := img[0]; !a.FileCreatedAt.Equal(want) || !a.FileModifiedAt.Equal(want) || a.DeviceAssetID != "dev-IMG_1.jpg" || a.DeviceID != "phone" ||
		!a.IsFavorite || string(a.Sidecar) != "<x:xmpmeta/>" || a.LivePhotoVideoID != vid[0].ID || a.Visibility != "timeline" {
		t.Errorf("IMG_1.jpg in Immich: %+v", a)
	}
	if vid[0].Visibility != "hidden" {
		t.Errorf("live video visibility %s", vid[0].Visibility)
	}
	if b := api.ByName("b.jpg"); len(b) != 1 || b[0].Visibility != "archive" {
		t.Errorf("stack mate b.jpg: %+v", b)
	}
	al := api.Album("Holiday")
	if al == nil || len(al.Assets) != 2 || !((al.Assets[0] == img[0].ID && al.Assets[1] == pre.ID) || (al.Assets[1] == img[0].ID && al.Assets[0] == pre.ID)) {
		t.Errorf("album %+v (want IMG_1.jpg %s and the existing c.jpg %s)", al, img[0].ID, pre.ID)
	}
	// Again: nothing uploaded, album unchanged.
	n := len(api.Assets)
	res, err = RestoreToImmich(ctx, g, ords, cfg, files, c, t.TempDir())
	if err != nil || res.Uploaded != 0 || res.Present != 4 || len(api.Assets) != n || len(api.Album("Holiday").Assets) != 2 {
		t.Errorf("second run: %v %+v, %d assets", err, res, len(api.Assets))
	}
	// A failing upload and a damaged original: reported, the rest restored.
	api2 := immichtest.StartAPI(t)
	c2 := &APIClient{BaseURL: api2.URL + "/api", APIKey: api2.APIKey}
	api2.FailUploads = 1
	files2 := mapFiles{}
	for k, v := range files {
		files2[k] = v
	}
	files2["/srv/immich/upload/u1/c.jpg"] = []byte("bit rot")
	res, err = RestoreToImmich(ctx, g, ords, cfg, files2, c2, t.TempDir())
	if !errors.Is(err, ErrIncomplete) || len(res.Problems) != 2 || res.Uploaded != 2 ||
		!strings.Contains(strings.Join(res.Problems, "\n"), "HTTP 500") || !strings.Contains(strings.Join(res.Problems, "\n"), "checksum mismatch") {
		t.Errorf("with failures: %v %+v", err, res)
	}
	for _, a := range api2.Assets {
		if a.OriginalFileName == "c.jpg" {
			t.Errorf("the damaged c.jpg was uploaded")
		}
	}
	// A wrong key: ErrAPIAuth at the first request.
	_, err = RestoreToImmich(ctx, g, ords, cfg, files, &APIClient{BaseURL: api.URL, APIKey: "wrong"}, t.TempDir())
	if !errors.Is(err, ErrAPIAuth) {
		t.Errorf("wrong key: %v", err)
	}
}
