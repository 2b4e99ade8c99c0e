package immichtest

// API is a TEST DOUBLE of the part of Immich's public API a selective
// restore talks to — not Immich. Its shapes and failure modes were read in
// Immich's server source (immich-app/immich, v2.x–v3.x):
//
//   - server/src/controllers/asset-media.controller.ts: POST /api/assets
//     (multipart: assetData, optional sidecarData) answers 201 {"id",
//     "status":"created"}, or 200 {"id","status":"duplicate"} when the
//     owner already has an asset with the file's SHA-1 (also decided before
//     the upload from the x-immich-checksum header, AssetUploadInterceptor);
//     POST /api/assets/bulk-upload-check answers 200.
//   - server/src/dtos/asset-media.dto.ts: AssetMediaBase requires
//     deviceAssetId, deviceId (non-empty strings), fileCreatedAt and
//     fileModifiedAt (dates); duration and filename optional;
//     AssetMediaCreateDto adds isFavorite, visibility, livePhotoVideoId
//     (UUID), metadata, sidecarData. AssetBulkUploadCheckItem: {id,
//     checksum} (checksum hex or base64 SHA-1).
//   - server/src/dtos/asset-media-response.dto.ts: AssetMediaStatus
//     created|replaced|duplicate; AssetBulkUploadCheckResult {id, action
//     accept|reject, reason duplicate|unsupported-format, assetId,
//     isTrashed}.
//   - server/src/services/asset-media.service.ts: canUploadFile refuses a
//     file name whose extension is not a known asset type with 400
//     "Unsupported file type <name>"; uploadAsset checks the
//     livePhotoVideoId through onBeforeLink (the video must exist, belong
//     to the user and be a video; it is then hidden) before creating;
//     originalFileName = dto.filename || the part's file name;
//     bulkUploadCheck looks checksums up among the user's assets (trashed
//     ones too, isTrashed set).
//   - server/src/controllers/album.controller.ts, server/src/dtos/album.dto.ts,
//     server/src/dtos/asset-ids.response.dto.ts: GET /api/albums (the
//     user's albums), POST /api/albums {albumName (required string),
//     description?, albumUsers?, assetIds?} answers 201 with the album
//     (assetIds the user may not access are left out);
//     PUT /api/albums/{id}/assets {ids: uuid[]} answers 200 with one
//     BulkIdResponseDto {id, success, error: duplicate|no_permission|
//     not_found|unknown} per id; an album the user cannot reach is 400/403
//     (access check), here 400 "Not found or no album.addAsset access".
//   - every route needs authentication (x-api-key header): 401
//     {"message":"Authentication required"} without it, 401 "Invalid API
//     key" with a wrong one.
//
// Failure injection: FailUploads makes the next N uploads answer 500.

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIAsset is an asset the double holds.
type APIAsset struct {
	ID, Checksum, OriginalFileName, DeviceAssetID, DeviceID string
	FileCreatedAt, FileModifiedAt                           time.Time
	LivePhotoVideoID, Visibility                            string
	IsFavorite, Trashed                                     bool
	Content, Sidecar                                        []byte
	Type                                                    string
}

// APIAlbum is an album the double holds.
type APIAlbum struct {
	ID, Name string
	Assets   []string // asset IDs, in the order added
}

// API is the double. Fields may be read after the test's requests end.
type API struct {
	URL    string
	APIKey string

	mu          sync.Mutex
	Assets      map[string]*APIAsset
	Albums      []*APIAlbum
	FailUploads int      // the next N uploads answer 500
	Requests    []string // "METHOD PATH -> code"
}

// StartAPI starts the double; it stops when the test ends.
func StartAPI(t testing.TB) *API {
	a := &API{APIKey: "api-key-" + randomHex(8), Assets: map[string]*APIAsset{}}
	srv := httptest.NewServer(http.HandlerFunc(a.handle))
	a.URL = srv.URL
	t.Cleanup(srv.Close)
	return a
}

// AddAsset puts an existing asset into the double (as if uploaded before).
func (a *API) AddAsset(content []byte, name string) *APIAsset {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := sha1.Sum(content)
	as := &APIAsset{ID: newUUID(), Checksum: hex.EncodeToString(s[:]), OriginalFileName: name, Content: content, Type: assetType(name), Visibility: "timeline"}
	a.Assets[as.ID] = as
	return as
}

// ByName returns the assets with original file name name.
func (a *API) ByName(name string) []*APIAsset {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*APIAsset
	for _, as := range a.Assets {
		if as.OriginalFileName == name {
			out = append(out, as)
		}
	}
	return out
}

// Album returns the album named name, nil if none.
func (a *API) Album(name string) *APIAlbum {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range a.Albums {
		if al.Name == name {
			return al
		}
	}
	return nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Extensions the double accepts as assets (a subset of
// server/src/utils/mime-types.ts).
var (
	imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".heic": true, ".heif": true, ".png": true, ".webp": true, ".dng": true, ".gif": true, ".tif": true, ".tiff": true, ".avif": true}
	videoExts = map[string]bool{".mp4": true, ".mov": true, ".mkv": true, ".webm": true, ".3gp": true, ".avi": true, ".m2ts": true, ".mts": true}
)

func assetType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	switch {
	case imageExts[ext]:
		return "IMAGE"
	case videoExts[ext]:
		return "VIDEO"
	}
	return ""
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (a *API) reply(w http.ResponseWriter, r *http.Request, code int, v any) {
	a.Requests = append(a.Requests, fmt.Sprintf("%s %s -> %d", r.Method, r.URL.Path, code))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiError(code int, m string) map[string]any {
	return map[string]any{"message": m, "error": http.StatusText(code), "statusCode": code}
}

// checksumOf decodes a hex or base64 SHA-1 (fromChecksum in
// server/src/utils/request.ts) into hex; "" when it is neither.
func checksumOf(s string) string {
	if len(s) == 40 {
		if b, err := hex.DecodeString(s); err == nil {
			return hex.EncodeToString(b)
		}
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 20 {
		return hex.EncodeToString(b)
	}
	return ""
}

func (a *API) duplicateOf(sum string) *APIAsset {
	for _, as := range a.Assets {
		if as.Checksum == sum {
			return as
		}
	}
	return nil
}

func (a *API) handle(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch key := r.Header.Get("x-api-key"); {
	case key == "":
		a.reply(w, r, 401, apiError(401, "Authentication required"))
		return
	case key != a.APIKey:
		a.reply(w, r, 401, apiError(401, "Invalid API key"))
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/assets":
		a.upload(w, r)
	case r.Method == "POST" && r.URL.Path == "/api/assets/bulk-upload-check":
		var dto struct {
			Assets []struct{ ID, Checksum string } `json:"assets"`
		}
		if err := json.NewDecoder(r.Body).Decode(&dto); err != nil || dto.Assets == nil {
			a.reply(w, r, 400, apiError(400, "assets must be an array"))
			return
		}
		results := []map[string]any{}
		for _, it := range dto.Assets {
			if it.ID == "" || it.Checksum == "" {
				a.reply(w, r, 400, apiError(400, "assets.id and assets.checksum should not be empty"))
				return
			}
			if d := a.duplicateOf(checksumOf(it.Checksum)); d != nil {
				results = append(results, map[string]any{"id": it.ID, "action": "reject", "reason": "duplicate", "assetId": d.ID, "isTrashed": d.Trashed})
			} else {
				results = append(results, map[string]any{"id": it.ID, "action": "accept"})
			}
		}
		a.reply(w, r, 200, map[string]any{"results": results})
	case r.Method == "GET" && r.URL.Path == "/api/albums":
		out := []map[string]any{}
		for _, al := range a.Albums {
			out = append(out, albumJSON(al))
		}
		a.reply(w, r, 200, out)
	case r.Method == "POST" && r.URL.Path == "/api/albums":
		var dto struct {
			AlbumName *string  `json:"albumName"`
			AssetIDs  []string `json:"assetIds"`
		}
		if err := json.NewDecoder(r.Body).Decode(&dto); err != nil || dto.AlbumName == nil {
			a.reply(w, r, 400, apiError(400, "albumName must be a string"))
			return
		}
		al := &APIAlbum{ID: newUUID(), Name: *dto.AlbumName}
		for _, id := range dto.AssetIDs {
			if !uuidRE.MatchString(id) {
				a.reply(w, r, 400, apiError(400, "each value in assetIds must be a UUID"))
				return
			}
			if a.Assets[id] != nil { // no access: silently left out
				al.Assets = append(al.Assets, id)
			}
		}
		a.Albums = append(a.Albums, al)
		a.reply(w, r, 201, albumJSON(al))
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/api/albums/") && strings.HasSuffix(r.URL.Path, "/assets"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/albums/"), "/assets")
		var al *APIAlbum
		for _, x := range a.Albums {
			if x.ID == id {
				al = x
			}
		}
		if al == nil {
			a.reply(w, r, 400, apiError(400, "Not found or no album.addAsset access"))
			return
		}
		var dto struct {
			IDs []string `json:"ids"`
		}
		if err := json.NewDecoder(r.Body).Decode(&dto); err != nil || dto.IDs == nil {
			a.reply(w, r, 400, apiError(400, "ids must be an array"))
			return
		}
		out := []map[string]any{}
		for _, aid := range dto.IDs {
			if !uuidRE.MatchString(aid) {
				a.reply(w, r, 400, apiError(400, "each value in ids must be a UUID"))
				return
			}
		}
		for _, aid := range dto.IDs {
			switch {
			case a.Assets[aid] == nil:
				out = append(out, map[string]any{"id": aid, "success": false, "error": "no_permission"})
			case contains(al.Assets, aid):
				out = append(out, map[string]any{"id": aid, "success": false, "error": "duplicate"})
			default:
				al.Assets = append(al.Assets, aid)
				out = append(out, map[string]any{"id": aid, "success": true})
			}
		}
		a.reply(w, r, 200, out)
	default:
		a.reply(w, r, 404, apiError(404, "Cannot "+r.Method+" "+r.URL.Path))
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func albumJSON(al *APIAlbum) map[string]any {
	return map[string]any{"id": al.ID, "albumName": al.Name, "assetCount": len(al.Assets), "description": "", "shared": false}
}

func (a *API) upload(w http.ResponseWriter, r *http.Request) {
	// AssetUploadInterceptor: a known checksum header answers "duplicate"
	// before the body is read.
	if sum := checksumOf(r.Header.Get("x-immich-checksum")); sum != "" {
		if d := a.duplicateOf(sum); d != nil {
			a.reply(w, r, 200, map[string]any{"id": d.ID, "status": "duplicate"})
			return
		}
	}
	if err := r.ParseMultipartForm(64 << 20); err != nil {
		a.reply(w, r, 400, apiError(400, "Multipart: "+err.Error()))
		return
	}
	if a.FailUploads > 0 {
		a.FailUploads--
		a.reply(w, r, 500, apiError(500, "Internal server error"))
		return
	}
	f := r.MultipartForm
	file := f.File["assetData"]
	if len(file) == 0 || file[0].Size == 0 {
		a.reply(w, r, 400, apiError(400, "File is empty"))
		return
	}
	get := func(k string) string {
		if v := f.Value[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	name := get("filename")
	if name == "" {
		name = file[0].Filename
	}
	typ := assetType(name)
	if typ == "" {
		a.reply(w, r, 400, apiError(400, "Unsupported file type "+name))
		return
	}
	for _, k := range []string{"deviceAssetId", "deviceId"} {
		if get(k) == "" {
			a.reply(w, r, 400, apiError(400, k+" should not be empty"))
			return
		}
	}
	var created, modified time.Time
	for _, d := range []struct {
		k string
		t *time.Time
	}{{"fileCreatedAt", &created}, {"fileModifiedAt", &modified}} {
		t, err := time.Parse(time.RFC3339Nano, get(d.k))
		if err != nil {
			a.reply(w, r, 400, apiError(400, d.k+" must be a Date instance"))
			return
		}
		*d.t = t
	}
	vis := get("visibility")
	switch vis {
	case "", "timeline", "archive", "hidden", "locked":
	default:
		a.reply(w, r, 400, apiError(400, "visibility must be one of the following values: archive, timeline, hidden, locked"))
		return
	}
	if vis == "" {
		vis = "timeline"
	}
	live := get("livePhotoVideoId")
	if live != "" {
		v := a.Assets[live]
		switch {
		case !uuidRE.MatchString(live):
			a.reply(w, r, 400, apiError(400, "livePhotoVideoId must be a UUID"))
			return
		case v == nil:
			a.reply(w, r, 400, apiError(400, "Live photo video not found"))
			return
		case v.Type != "VIDEO":
			a.reply(w, r, 400, apiError(400, "Live photo vide must be a video"))
			return
		}
		v.Visibility = "hidden"
	}
	rc, err := file[0].Open()
	if err != nil {
		a.reply(w, r, 500, apiError(500, err.Error()))
		return
	}
	content, _ := io.ReadAll(rc)
	rc.Close()
	s := sha1.Sum(content)
	sum := hex.EncodeToString(s[:])
	if d := a.duplicateOf(sum); d != nil { // the checksum constraint
		a.reply(w, r, 200, map[string]any{"id": d.ID, "status": "duplicate"})
		return
	}
	as := &APIAsset{ID: newUUID(), Checksum: sum, OriginalFileName: name, DeviceAssetID: get("deviceAssetId"), DeviceID: get("deviceId"),
		FileCreatedAt: created, FileModifiedAt: modified, LivePhotoVideoID: live, Visibility: vis, IsFavorite: get("isFavorite") == "true",
		Content: content, Type: typ}
	if sc := f.File["sidecarData"]; len(sc) > 0 {
		if !strings.HasSuffix(strings.ToLower(sc[0].Filename), ".xmp") {
			a.reply(w, r, 400, apiError(400, "Unsupported file type "+sc[0].Filename))
			return
		}
		rc, _ := sc[0].Open()
		as.Sidecar, _ = io.ReadAll(rc)
		rc.Close()
	}
	a.Assets[as.ID] = as
	a.reply(w, r, 201, map[string]any{"id": as.ID, "status": "created"})
}
