package pgtest

import (
	"crypto/rand"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ImmichSchema is an Immich-like schema with current (v1.136+) table names,
// the cube/earthdistance extensions and the ll_to_earth index that makes
// restores without the search_path fix fail.
//
//go:embed testdata/immich_schema.sql
var ImmichSchema string

// ImmichLegacySchema is a pre-v1.136 schema (plural table names).
//
//go:embed testdata/immich_legacy_schema.sql
var ImmichLegacySchema string

// ShimDir returns the absolute directory holding the `docker` test double
// (testdata/bin/docker). Put it first on PATH: it runs
// `docker exec -i immich_postgres CMD...` locally and records
// `docker stop|start immich_server` in $DOCKER_SHIM_LOG.
func ShimDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "bin")
}

// ImmichFixture is a seeded Immich-like database and the matching files.
type ImmichFixture struct {
	DB                string
	Upload            string // host UPLOAD_LOCATION
	External          string // host folder of the external library
	ExternalContainer string // where compose mounts it in immich_server
	// Originals lists host paths of every asset original (the files whose
	// SHA-1 is asset.checksum), in insertion order.
	Originals []string
	// Referenced lists host paths of every file the database references.
	Referenced []string
	// MotionOriginal is the extracted motion-photo video: an asset original
	// stored under encoded-video/.
	MotionOriginal string
	// Generated lists files under thumbs/ and encoded-video/ that are not
	// originals.
	Generated                      []string
	Assets, Users, Albums, Persons int
	ImmichVersion                  string
	Untracked                      string // a file under UPLOAD_LOCATION the DB does not know
}

// Folders are Immich's storage folders under UPLOAD_LOCATION.
var Folders = []string{"library", "upload", "thumbs", "encoded-video", "profile", "backups"}

// SeedImmich creates database db in c with ImmichSchema, fills it with a
// small library (two users, uploads with the three path forms Immich has
// used, a storage-template file with an XMP sidecar, a motion photo whose
// video lives under encoded-video/, a transcoded video, an external-library
// asset, thumbnails, faces, albums, vector rows) and writes matching files
// with matching SHA-1 checksums under root/upload and root/external.
func SeedImmich(t testing.TB, c *Cluster, db, root string) *ImmichFixture {
	t.Helper()
	f := &ImmichFixture{
		DB: db, Upload: filepath.Join(root, "upload"), External: filepath.Join(root, "external", "trip"),
		ExternalContainer: "/mnt/media/trip", ImmichVersion: "v2.5.6",
	}
	for _, d := range Folders {
		mustWrite(t, filepath.Join(f.Upload, d, ".immich"), nil)
	}
	var sql strings.Builder
	sql.WriteString(ImmichSchema)
	// file writes random content at host path p and returns its SHA-1 hex.
	file := func(p string, size int) string {
		b := make([]byte, size)
		rand.Read(b)
		mustWrite(t, p, b)
		s := sha1.Sum(b)
		return hex.EncodeToString(s[:])
	}
	host := func(containerPath string) string {
		switch {
		case strings.HasPrefix(containerPath, "/data/"):
			return filepath.Join(f.Upload, strings.TrimPrefix(containerPath, "/data/"))
		case strings.HasPrefix(containerPath, "/usr/src/app/upload/"):
			return filepath.Join(f.Upload, strings.TrimPrefix(containerPath, "/usr/src/app/upload/"))
		case strings.HasPrefix(containerPath, "upload/"):
			return filepath.Join(f.Upload, strings.TrimPrefix(containerPath, "upload/"))
		case strings.HasPrefix(containerPath, f.ExternalContainer+"/"):
			return filepath.Join(f.External, strings.TrimPrefix(containerPath, f.ExternalContainer+"/"))
		}
		t.Fatalf("unmapped path %s", containerPath)
		return ""
	}
	admin, bob := newUUID(), newUUID()
	f.Users = 2
	adminProfile := "/data/profile/" + admin + "/" + newUUID() + ".jpg"
	file(host(adminProfile), 3000)
	f.Referenced = append(f.Referenced, host(adminProfile))
	fmt.Fprintf(&sql, `INSERT INTO "user" (id, email, name, "isAdmin", "storageLabel", "profileImagePath") VALUES ('%s','admin@example.com','Admin',true,'admin','%s'), ('%s','bob@example.com','Bob',false,NULL,'');`+"\n", admin, adminProfile, bob)

	libID := newUUID()
	type asset struct {
		id, owner, typ, path, name string
		lib                        bool
		sidecar                    string
		live                       string
		size                       int
	}
	nest := func(folder, owner, id, ext string) string {
		return fmt.Sprintf("%s/%s/%s/%s/%s%s", folder, owner, id[0:2], id[2:4], id, ext)
	}
	motionID := newUUID()
	var assets []asset
	a1 := newUUID()
	assets = append(assets, asset{id: a1, owner: admin, typ: "IMAGE", path: "/data/library/admin/2024/2024-06-01/IMG_0001.jpg", name: "IMG_0001.jpg", sidecar: "/data/library/admin/2024/2024-06-01/IMG_0001.jpg.xmp", size: 9000})
	a2 := newUUID()
	assets = append(assets, asset{id: a2, owner: admin, typ: "IMAGE", path: "/usr/src/app/upload/" + nest("upload", admin, a2, ".heic"), name: "IMG_0002.HEIC", size: 7000})
	a3 := newUUID()
	assets = append(assets, asset{id: a3, owner: bob, typ: "IMAGE", path: "upload/" + nest("upload", bob, a3, ".jpg"), name: "legacy.jpg", size: 5000})
	assets = append(assets, asset{id: motionID, owner: bob, typ: "VIDEO", path: "/data/" + nest("encoded-video", bob, motionID, "-MP.mp4"), name: "PXL_MP.mp4", size: 12000})
	a5 := newUUID()
	assets = append(assets, asset{id: a5, owner: bob, typ: "IMAGE", path: "/data/" + nest("upload", bob, a5, ".jpg"), name: "PXL_20240601.MP.jpg", live: motionID, size: 8000})
	a6 := newUUID()
	assets = append(assets, asset{id: a6, owner: admin, typ: "VIDEO", path: "/data/" + nest("upload", admin, a6, ".mov"), name: "clip.mov", size: 15000})
	a7 := newUUID()
	assets = append(assets, asset{id: a7, owner: admin, typ: "IMAGE", path: f.ExternalContainer + "/DSC_0001.jpg", name: "DSC_0001.jpg", lib: true, size: 6000})
	f.Assets = len(assets)
	f.MotionOriginal = host(assets[3].path)

	for _, a := range assets {
		sum := file(host(a.path), a.size)
		f.Originals = append(f.Originals, host(a.path))
		f.Referenced = append(f.Referenced, host(a.path))
		lib, live, side := "NULL", "NULL", "NULL"
		if a.lib {
			lib = "'" + libID + "'"
		}
		if a.live != "" {
			live = "'" + a.live + "'"
		}
		if a.sidecar != "" {
			side = "'" + a.sidecar + "'"
			mustWrite(t, host(a.sidecar), []byte("<x:xmpmeta/>\n"))
			f.Referenced = append(f.Referenced, host(a.sidecar))
		}
		vis := "timeline"
		if a.id == motionID {
			vis = "hidden"
		}
		fmt.Fprintf(&sql, `INSERT INTO asset (id, "ownerId", "libraryId", type, "originalPath", "originalFileName", checksum, "sidecarPath", "livePhotoVideoId", visibility) VALUES ('%s','%s',%s,'%s','%s','%s',decode('%s','hex'),%s,%s,'%s');`+"\n",
			a.id, a.owner, lib, a.typ, a.path, a.name, sum, side, live, vis)
		for _, kind := range []string{"thumbnail", "preview"} {
			ext := map[string]string{"thumbnail": "_thumbnail.webp", "preview": "_preview.jpeg"}[kind]
			p := "/data/" + nest("thumbs", a.owner, a.id, ext)
			file(host(p), 700)
			f.Referenced = append(f.Referenced, host(p))
			f.Generated = append(f.Generated, host(p))
			fmt.Fprintf(&sql, `INSERT INTO asset_file ("assetId", type, path) VALUES ('%s','%s','%s');`+"\n", a.id, kind, p)
		}
		fmt.Fprintf(&sql, `INSERT INTO asset_exif ("assetId", make, model, latitude, longitude, city, description) VALUES ('%s','Google','Pixel 8',52.52,13.40,'Berlin',E'tab\there, newline\nthere, backslash \\ done');`+"\n", a.id)
		emb := make([]string, 64)
		for i := range emb {
			emb[i] = fmt.Sprintf("%.6f", float64((i*7+len(a.id)*3)%100)/100-0.5)
		}
		fmt.Fprintf(&sql, `INSERT INTO smart_search ("assetId", embedding) VALUES ('%s','{%s}');`+"\n", a.id, strings.Join(emb, ","))
	}
	// A transcoded video (generated, regenerable) for the clip.
	enc := "/data/" + nest("encoded-video", admin, a6, ".mp4")
	file(host(enc), 4000)
	f.Referenced = append(f.Referenced, host(enc))
	f.Generated = append(f.Generated, host(enc))
	fmt.Fprintf(&sql, `UPDATE asset SET "encodedVideoPath"='%s' WHERE id='%s';`+"\n", enc, a6)

	// People with face thumbnails.
	for i, owner := range []string{admin, bob} {
		pid := newUUID()
		p := "/data/thumbs/" + owner + "/" + pid[0:2] + "/" + pid[2:4] + "/" + pid + ".jpeg"
		file(host(p), 500)
		f.Referenced = append(f.Referenced, host(p))
		f.Generated = append(f.Generated, host(p))
		fmt.Fprintf(&sql, `INSERT INTO person (id, "ownerId", name, "thumbnailPath") VALUES ('%s','%s','Person %d','%s');`+"\n", pid, owner, i, p)
	}
	f.Persons = 2
	al := newUUID()
	fmt.Fprintf(&sql, `INSERT INTO album (id, "ownerId", "albumName", "albumThumbnailAssetId") VALUES ('%s','%s','Holiday','%s');`+"\n", al, admin, a1)
	fmt.Fprintf(&sql, `INSERT INTO album_asset VALUES ('%s','%s'), ('%s','%s');`+"\n", al, a1, al, a2)
	fmt.Fprintf(&sql, `INSERT INTO album (id, "ownerId", "albumName") VALUES ('%s','%s','Empty');`+"\n", newUUID(), bob)
	f.Albums = 2
	sql.WriteString(`INSERT INTO system_metadata VALUES ('system-flags', '{"mountChecks":{"library":true,"upload":true,"thumbs":true,"encoded-video":true,"profile":true,"backups":true}}'), ('MediaLocation', '{"location":"/data"}');` + "\n")
	fmt.Fprintf(&sql, `INSERT INTO version_history (version, "createdAt") VALUES ('v1.140.0', now() - interval '30 days'), ('%s', now());`+"\n", f.ImmichVersion)

	f.Untracked = filepath.Join(f.Upload, "upload", "untracked-by-db.jpg")
	file(f.Untracked, 100)
	c.CreateDB(t, db)
	c.MustExec(t, db, sql.String())
	return f
}

func mustWrite(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
