package main_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/immichtest"
)

// galleryFixtureSQL adds to pgtest's seeded Immich database what the
// gallery and the selective restore read and the base fixture lacks: faces
// (asset_face, as Immich's schema has it), a stack, dates taken, device IDs.
// Person 0 (the admin's) is on IMG_0001.jpg and on Bob's live photo; the
// HEIC and the external DSC_0001.jpg are stacked.
const galleryFixtureSQL = `
ALTER TABLE asset ADD COLUMN "stackId" uuid, ADD COLUMN "fileModifiedAt" timestamptz, ADD COLUMN "deviceAssetId" varchar, ADD COLUMN "deviceId" varchar, ADD COLUMN "localDateTime" timestamptz;
CREATE TABLE asset_face (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "assetId" uuid NOT NULL REFERENCES asset(id) ON DELETE CASCADE,
  "personId" uuid REFERENCES person(id) ON DELETE SET NULL,
  "deletedAt" timestamptz
);
UPDATE asset SET "fileCreatedAt" = CASE "originalFileName"
  WHEN 'IMG_0001.jpg' THEN timestamptz '2024-06-01 10:00:00+00'
  WHEN 'IMG_0002.HEIC' THEN timestamptz '2024-06-02 11:00:00+00'
  WHEN 'legacy.jpg' THEN timestamptz '2019-03-03 09:00:00+00'
  WHEN 'PXL_MP.mp4' THEN timestamptz '2023-05-05 12:00:00+00'
  WHEN 'PXL_20240601.MP.jpg' THEN timestamptz '2023-05-05 12:00:00+00'
  WHEN 'clip.mov' THEN timestamptz '2022-02-02 08:00:00+00'
  ELSE timestamptz '2021-01-01 07:00:00+00' END;
UPDATE asset SET "fileModifiedAt" = "fileCreatedAt" + interval '1 minute', "localDateTime" = "fileCreatedAt", "deviceAssetId" = 'dev-' || "originalFileName", "deviceId" = 'phone';
UPDATE asset SET "stackId" = '11111111-2222-4333-8444-555555555555' WHERE "originalFileName" IN ('IMG_0002.HEIC', 'DSC_0001.jpg');
INSERT INTO asset_face ("assetId", "personId")
  SELECT a.id, p.id FROM asset a, person p WHERE p.name = 'Person 0' AND a."originalFileName" IN ('IMG_0001.jpg', 'PXL_20240601.MP.jpg');
`

// newGalleryImmich is an Immich install with the gallery fixture, backed
// up once, whose originals were then deleted (restores must come from the
// snapshot). It returns the SHA-1 of each original by original file name.
func newGalleryImmich(t *testing.T) (*immichEnv, map[string]string) {
	ie := newImmichEnv(t, "immich")
	ie.c.MustExec(t, "immich", galleryFixtureSQL)
	ie.initRepo()
	names := []string{"IMG_0001.jpg", "IMG_0002.HEIC", "legacy.jpg", "PXL_MP.mp4", "PXL_20240601.MP.jpg", "clip.mov", "DSC_0001.jpg"}
	if len(ie.f.Originals) != len(names) {
		t.Fatalf("the fixture has %d originals, this test knows %d", len(ie.f.Originals), len(names))
	}
	sums := map[string]string{}
	for i, p := range ie.f.Originals {
		sums[names[i]] = sha1File(t, p)
	}
	// Real images as thumbnails and previews (the base fixture's are random
	// bytes), so a browser shows them.
	for i, p := range ie.f.Generated {
		if strings.HasSuffix(p, "_thumbnail.webp") || strings.HasSuffix(p, "_preview.jpeg") {
			img := image.NewRGBA(image.Rect(0, 0, 160, 120))
			draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{uint8(40 * i), 120, uint8(255 - 30*i), 255}}, image.Point{}, draw.Src)
			var b bytes.Buffer
			jpeg.Encode(&b, img, nil)
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	sidecar := filepath.Join(filepath.Dir(ie.f.Originals[0]), "IMG_0001.jpg.xmp")
	sums["IMG_0001.jpg.xmp"] = sha1File(t, sidecar)
	ie.ok("immich", "backup", "--immich-dir", ie.dir)
	os.RemoveAll(ie.f.Upload)
	os.RemoveAll(ie.f.External)
	return ie, sums
}

func sha1File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// folderSums returns the SHA-1 of every file in dir (flat), by name.
func folderSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("unexpected directory %s in %s", e.Name(), dir)
			continue
		}
		out[e.Name()] = sha1File(t, filepath.Join(dir, e.Name()))
	}
	return out
}

func sortedKeys(m map[string]string) string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

// TestImmichSelectiveRestore restores by album, person, date range and
// user from a snapshot (the dump taken by pg_dump from the suite's real
// PostgreSQL) into folders, with the originals deleted from disk: each
// folder holds exactly the chosen originals, their sidecars, live-photo
// video parts and stack members, byte-identical (SHA-1 = the database's
// checksum), and a second run writes nothing.
func TestImmichSelectiveRestore(t *testing.T) {
	ie, sums := newGalleryImmich(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// Holiday = IMG_0001 (with its sidecar) + IMG_0002.HEIC, whose stack
		// mate is the external DSC_0001.jpg.
		{"album", []string{"--album", "holiday"}, "DSC_0001.jpg,IMG_0001.jpg,IMG_0001.jpg.xmp,IMG_0002.HEIC"},
		// Person 0: IMG_0001 and Bob's live photo, with its video part.
		{"person", []string{"--person", "Person 0"}, "IMG_0001.jpg,IMG_0001.jpg.xmp,PXL_20240601.MP.jpg,PXL_MP.mp4"},
		{"dates", []string{"--taken-after", "2022-01-01", "--taken-before", "2023-12-31"}, "PXL_20240601.MP.jpg,PXL_MP.mp4,clip.mov"},
		{"user", []string{"--user", "BOB@example.com"}, "PXL_20240601.MP.jpg,PXL_MP.mp4,legacy.jpg"},
		{"album-and-date", []string{"--album", "Holiday", "--taken-after", "2024-06-02"}, "DSC_0001.jpg,IMG_0002.HEIC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(ie.env.dir, "sel-"+tc.name)
			r := ie.ok(append([]string{"immich", "restore", "latest", "--target", target, "--json"}, tc.args...)...)
			var res struct {
				Assets  int      `json:"assets"`
				Files   int      `json:"files"`
				Present int      `json:"present"`
				Written []string `json:"written"`
			}
			if err := json.Unmarshal(lastJSONObject(t, r), &res); err != nil {
				t.Fatalf("%v\n%v", err, r)
			}
			got := folderSums(t, target)
			if k := sortedKeys(got); k != tc.want {
				t.Fatalf("restored %s, want %s\n%v", k, tc.want, r)
			}
			for n, s := range got {
				if sums[n] != s {
					t.Errorf("%s: SHA-1 %s, the original's is %s", n, s, sums[n])
				}
			}
			if res.Files != len(got) || res.Present != 0 {
				t.Errorf("summary %+v, %d files in the folder", res, len(got))
			}
			// Run twice: everything is already there.
			r = ie.ok(append([]string{"immich", "restore", "latest", "--target", target, "--json"}, tc.args...)...)
			json.Unmarshal(lastJSONObject(t, r), &res)
			if res.Files != 0 || res.Present != len(got) {
				t.Errorf("second run: %+v", res)
			}
		})
	}
	// A disk that fills up: one error naming it, what is there is whole
	// (no temporary file left), and the same command finishes once there
	// is room. Bob's three originals take 25 KB; the disk has 12 KiB.
	t.Run("full", func(t *testing.T) {
		mnt := mountTmpfs(t, 12<<10)
		target := filepath.Join(mnt, "sel")
		r := ie.run("immich", "restore", "latest", "--target", target, "--user", "bob@example.com")
		wantCode(t, r, exitFailure)
		if !strings.Contains(r.stderr, "restore target is full") || strings.Count(r.stderr, "no space left on device") != 1 || !strings.Contains(r.stderr, "run the same command again") {
			t.Errorf("want one error naming the full disk and how to go on:\n%v", r)
		}
		got := folderSums(t, target)
		for n, s := range got {
			if strings.HasPrefix(n, ".restore-") {
				t.Errorf("temporary file %s left", n)
			} else if sums[n] != s {
				t.Errorf("%s: SHA-1 %s, the original's is %s", n, s, sums[n])
			}
		}
		if len(got) == 3 {
			t.Fatalf("all three files fit in 12 KiB: the test proves nothing")
		}
		if out, err := exec.Command("mount", "-o", "remount,size=1m", mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v\n%s", err, out)
		}
		ie.ok("immich", "restore", "latest", "--target", target, "--user", "bob@example.com")
		if k := sortedKeys(folderSums(t, target)); k != "PXL_20240601.MP.jpg,PXL_MP.mp4,legacy.jpg" {
			t.Errorf("after the second run: %s", k)
		}
	})
	// An unknown album: refused, nothing written, the known albums named.
	target := filepath.Join(ie.env.dir, "sel-none")
	r := ie.run("immich", "restore", "latest", "--target", target, "--album", "Holidays")
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, `"Holiday"`) || !strings.Contains(r.stderr, "Nothing was restored") {
		t.Errorf("message:\n%v", r)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("target created for a refused restore: %v", err)
	}
	r = ie.run("immich", "restore", "latest", "--album", "Holiday")
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "--target") {
		t.Errorf("message without --target:\n%v", r)
	}
	r = ie.run("immich", "restore", "latest", "--target", target, "--taken-after", "June 1")
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "YYYY-MM-DD") {
		t.Errorf("bad date message:\n%v", r)
	}
}

// TestImmichRestoreIntoImmichAPI uploads album Holiday from a snapshot
// (real pg_dump) into the Immich API test double through the CLI: the
// originals arrive byte-identical with their dates, the album is
// recreated; a second run uploads nothing; a wrong key fails with advice.
func TestImmichRestoreIntoImmichAPI(t *testing.T) {
	ie, sums := newGalleryImmich(t)
	api := immichtest.StartAPI(t)
	run := func(key string, args ...string) result {
		return ie.runOpts(opts{extraEnv: append(append([]string{}, ie.extra...), "IMMICH_API_KEY="+key)}, args...)
	}
	r := run(api.APIKey, "immich", "restore", "latest", "--album", "Holiday", "--to-immich", api.URL, "--json")
	wantCode(t, r, exitOK)
	var res struct {
		Uploaded int      `json:"uploaded"`
		Present  int      `json:"already_present"`
		Albums   []string `json:"albums"`
	}
	if err := json.Unmarshal(lastJSONObject(t, r), &res); err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 3 || res.Present != 0 || strings.Join(res.Albums, ",") != "Holiday" {
		t.Errorf("result %+v\n%v", res, r)
	}
	for _, name := range []string{"IMG_0001.jpg", "IMG_0002.HEIC", "DSC_0001.jpg"} {
		got := api.ByName(name)
		if len(got) != 1 || got[0].Checksum != sums[name] {
			t.Errorf("%s in Immich: %+v", name, got)
			continue
		}
		if name == "IMG_0001.jpg" && (!got[0].FileCreatedAt.Equal(time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)) || string(got[0].Sidecar) != "<x:xmpmeta/>\n" || got[0].DeviceAssetID != "dev-IMG_0001.jpg") {
			t.Errorf("IMG_0001.jpg: created %v, sidecar %q, deviceAssetId %q", got[0].FileCreatedAt, got[0].Sidecar, got[0].DeviceAssetID)
		}
	}
	if al := api.Album("Holiday"); al == nil || len(al.Assets) != 2 {
		t.Errorf("album: %+v", al)
	}
	r = run(api.APIKey, "immich", "restore", "latest", "--album", "Holiday", "--to-immich", api.URL, "--json")
	wantCode(t, r, exitOK)
	json.Unmarshal(lastJSONObject(t, r), &res)
	if res.Uploaded != 0 || res.Present != 3 {
		t.Errorf("second run %+v", res)
	}
	r = run("wrong-key", "immich", "restore", "latest", "--album", "Holiday", "--to-immich", api.URL)
	wantCode(t, r, exitFailure)
	if !strings.Contains(r.stderr, "API key") || !strings.Contains(r.stderr, "IMMICH_API_KEY") {
		t.Errorf("wrong key message:\n%v", r)
	}
}
