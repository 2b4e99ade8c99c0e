package immich

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// APIClient talks to a running Immich server's public API with an API key
// (header x-api-key), for restoring assets into it. The request and answer
// shapes follow Immich's server source: controllers/asset-media.controller.ts
// and dtos/asset-media.dto.ts (upload, bulk-upload-check),
// controllers/album.controller.ts and dtos/album.dto.ts (albums).
type APIClient struct {
	BaseURL string // e.g. http://immich:2283 (with or without /api)
	APIKey  string
	// DeviceID is sent as the upload's deviceId (default "immich-vault").
	DeviceID string
	HTTP     *http.Client
}

// ErrAPIAuth: Immich refused the API key (401/403).
var ErrAPIAuth = errors.New("immich: the API key was refused")

// APIError is a non-2xx answer of the Immich API.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

func (c *APIClient) url(p string) string {
	b := strings.TrimSuffix(c.BaseURL, "/")
	b = strings.TrimSuffix(b, "/api")
	return b + "/api" + p
}

func (c *APIClient) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Minute}
}

// do sends a request and decodes a JSON answer into out; non-2xx answers
// become *APIError (wrapping ErrAPIAuth for 401/403).
func (c *APIClient) do(ctx context.Context, method, p, ctype string, body io.Reader, hdr map[string]string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(p), body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("x-api-key", c.APIKey)
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, p, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read the answer: %w", method, p, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var m struct {
			Message any `json:"message"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &m) == nil && m.Message != nil {
			msg = fmt.Sprint(m.Message)
		}
		e := &APIError{Method: method, Path: p, Status: resp.StatusCode, Message: msg}
		if resp.StatusCode == 401 || resp.StatusCode == 403 && strings.Contains(strings.ToLower(msg), "api key") {
			return resp.StatusCode, fmt.Errorf("%w: %w", ErrAPIAuth, e)
		}
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: unexpected answer %.200q: %w", method, p, b, err)
		}
	}
	return resp.StatusCode, nil
}

func (c *APIClient) postJSON(ctx context.Context, method, p string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, method, p, "application/json", bytes.NewReader(b), nil, out)
	return err
}

// CheckResult is one answer of bulk-upload-check: Action "accept" (upload
// it) or "reject" with Reason "duplicate" and the existing AssetID.
type CheckResult struct {
	ID        string `json:"id"`
	Action    string `json:"action"`
	Reason    string `json:"reason,omitempty"`
	AssetID   string `json:"assetId,omitempty"`
	IsTrashed bool   `json:"isTrashed,omitempty"`
}

// BulkUploadCheck asks which checksums (hex SHA-1, by caller ID) Immich
// already has for the key's user.
func (c *APIClient) BulkUploadCheck(ctx context.Context, sums map[string]string) (map[string]CheckResult, error) {
	type item struct {
		ID       string `json:"id"`
		Checksum string `json:"checksum"`
	}
	ids := make([]string, 0, len(sums))
	for id := range sums {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := map[string]CheckResult{}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		var in struct {
			Assets []item `json:"assets"`
		}
		for _, id := range ids[:n] {
			in.Assets = append(in.Assets, item{id, sums[id]})
		}
		var res struct {
			Results []CheckResult `json:"results"`
		}
		if err := c.postJSON(ctx, http.MethodPost, "/assets/bulk-upload-check", in, &res); err != nil {
			return nil, err
		}
		for _, r := range res.Results {
			out[r.ID] = r
		}
		ids = ids[n:]
	}
	return out, nil
}

// UploadRequest is one asset to upload.
type UploadRequest struct {
	File                          string // path of the original's bytes on local disk
	FileName                      string
	Checksum                      string // hex SHA-1, sent as x-immich-checksum
	DeviceAssetID, DeviceID       string
	FileCreatedAt, FileModifiedAt time.Time
	Favorite                      bool
	Visibility                    string
	LivePhotoVideoID              string
	Sidecar                       string // path of an XMP sidecar, "" none
}

// Upload sends one asset (POST /api/assets, multipart, streamed) and
// returns its ID in Immich and the status: "created", or "duplicate" when
// Immich already had the file.
func (c *APIClient) Upload(ctx context.Context, u UploadRequest) (id, status string, err error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeUpload(mw, u))
	}()
	defer pr.Close()
	var res struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	hdr := map[string]string{}
	if u.Checksum != "" {
		hdr["x-immich-checksum"] = u.Checksum
	}
	if _, err := c.do(ctx, http.MethodPost, "/assets", mw.FormDataContentType(), pr, hdr, &res); err != nil {
		return "", "", err
	}
	if res.ID == "" {
		return "", "", fmt.Errorf("POST /assets: the answer names no asset ID")
	}
	return res.ID, res.Status, nil
}

func writeUpload(mw *multipart.Writer, u UploadRequest) error {
	fields := [][2]string{
		{"deviceAssetId", u.DeviceAssetID}, {"deviceId", u.DeviceID},
		{"fileCreatedAt", u.FileCreatedAt.UTC().Format(time.RFC3339Nano)},
		{"fileModifiedAt", u.FileModifiedAt.UTC().Format(time.RFC3339Nano)},
		{"filename", u.FileName}, {"isFavorite", fmt.Sprint(u.Favorite)},
	}
	if u.Visibility != "" {
		fields = append(fields, [2]string{"visibility", u.Visibility})
	}
	if u.LivePhotoVideoID != "" {
		fields = append(fields, [2]string{"livePhotoVideoId", u.LivePhotoVideoID})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return err
		}
	}
	part := func(field, file, name string) error {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, escapeQuote(name)))
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
	if err := part("assetData", u.File, u.FileName); err != nil {
		return err
	}
	if u.Sidecar != "" {
		if err := part("sidecarData", u.Sidecar, u.FileName+".xmp"); err != nil {
			return err
		}
	}
	return mw.Close()
}

func escapeQuote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "").Replace(s)
}

// APIAlbum is an album as GET /api/albums lists it.
type APIAlbum struct {
	ID        string `json:"id"`
	AlbumName string `json:"albumName"`
}

// Albums lists the key user's albums.
func (c *APIClient) Albums(ctx context.Context) ([]APIAlbum, error) {
	var out []APIAlbum
	_, err := c.do(ctx, http.MethodGet, "/albums", "", nil, nil, &out)
	return out, err
}

// CreateAlbum creates an album holding assetIDs and returns its ID.
func (c *APIClient) CreateAlbum(ctx context.Context, name string, assetIDs []string) (string, error) {
	var out APIAlbum
	err := c.postJSON(ctx, http.MethodPost, "/albums", map[string]any{"albumName": name, "assetIds": nonNilStrings(assetIDs)}, &out)
	if err == nil && out.ID == "" {
		err = errors.New("POST /albums: the answer names no album ID")
	}
	return out.ID, err
}

// BulkIDResult is one answer of PUT /api/albums/{id}/assets.
type BulkIDResult struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"` // duplicate, no_permission, not_found, unknown
}

// AddToAlbum adds assets to an album (PUT /api/albums/{id}/assets).
func (c *APIClient) AddToAlbum(ctx context.Context, albumID string, assetIDs []string) ([]BulkIDResult, error) {
	var out []BulkIDResult
	err := c.postJSON(ctx, http.MethodPut, "/albums/"+albumID+"/assets", map[string]any{"ids": nonNilStrings(assetIDs)}, &out)
	return out, err
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// APIRestoreResult says what RestoreToImmich did.
type APIRestoreResult struct {
	Uploaded int `json:"uploaded"`
	// Present counts assets Immich already had (same SHA-1 for the key's
	// user): not uploaded again, still put back into their albums.
	Present  int      `json:"already_present"`
	Albums   []string `json:"albums"` // albums created or completed
	Problems []string `json:"problems"`
}

// RestoreToImmich uploads the originals of assets ords (with sidecars,
// their dates, device IDs, favourite flag and visibility, live photos
// linked to their uploaded video part) into a running Immich as the API
// key's user, skipping those Immich already has (bulk-upload-check by
// SHA-1), then recreates the membership of every album of the gallery
// that holds a restored asset: an album of the same name is completed,
// else created. Each original is copied to a temporary file under tmpDir
// first and its SHA-1 checked against the database's: a damaged file is
// never uploaded. Assets that fail are listed in Problems (the others go
// on); the error is then ErrIncomplete.
func RestoreToImmich(ctx context.Context, g *Gallery, ords []int32, cfg *Config, src FileSource, c *APIClient, tmpDir string) (*APIRestoreResult, error) {
	res := &APIRestoreResult{Albums: []string{}, Problems: []string{}}
	deviceID := c.DeviceID
	if deviceID == "" {
		deviceID = "immich-vault"
	}
	assets := make([]*GalleryAsset, 0, len(ords))
	sums := map[string]string{}
	for _, o := range ords {
		a, err := g.Asset(o)
		if err != nil {
			return res, err
		}
		assets = append(assets, a)
		if a.Checksum != "" && (a.ChecksumAlgo == "" || a.ChecksumAlgo == "sha1") {
			sums[a.ID] = a.Checksum
		}
	}
	check, err := c.BulkUploadCheck(ctx, sums)
	if err != nil {
		return res, fmt.Errorf("ask Immich which assets it has: %w", err)
	}
	// Video parts of live photos first: the photo's upload names the
	// video's new ID.
	isLiveVideo := map[string]bool{}
	for _, a := range assets {
		if a.LivePhotoVideoID != "" {
			isLiveVideo[a.LivePhotoVideoID] = true
		}
	}
	sort.SliceStable(assets, func(i, j int) bool { return isLiveVideo[assets[i].ID] && !isLiveVideo[assets[j].ID] })
	newID := map[string]string{} // snapshot asset ID → Immich asset ID
	for _, a := range assets {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if r, ok := check[a.ID]; ok && r.Action == "reject" && r.AssetID != "" {
			newID[a.ID] = r.AssetID
			res.Present++
			continue
		}
		id, status, err := uploadOne(ctx, a, cfg, src, c, tmpDir, deviceID, newID[a.LivePhotoVideoID], isLiveVideo[a.ID])
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if errors.Is(err, ErrAPIAuth) {
				return res, err
			}
			res.Problems = append(res.Problems, fmt.Sprintf("%s (asset %s): %v", a.OriginalFileName, a.ID, err))
			continue
		}
		newID[a.ID] = id
		if status == "duplicate" {
			res.Present++
		} else {
			res.Uploaded++
		}
	}
	// Album membership.
	chosen := map[int32]bool{}
	for _, o := range ords {
		chosen[o] = true
	}
	var existing []APIAlbum
	listed := false
	for _, al := range g.Albums() {
		var ids []string
		for _, o := range al.Assets {
			if id := newID[g.ID(o)]; chosen[o] && id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		if !listed {
			if existing, err = c.Albums(ctx); err != nil {
				return res, fmt.Errorf("list Immich's albums: %w", err)
			}
			listed = true
		}
		albumID := ""
		for _, e := range existing {
			if e.AlbumName == al.Name {
				albumID = e.ID
				break
			}
		}
		if albumID == "" {
			id, err := c.CreateAlbum(ctx, al.Name, nil)
			if err != nil {
				res.Problems = append(res.Problems, fmt.Sprintf("album %q: %v", al.Name, err))
				continue
			}
			albumID = id
			existing = append(existing, APIAlbum{ID: id, AlbumName: al.Name})
		}
		out, err := c.AddToAlbum(ctx, albumID, ids)
		if err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("album %q: %v", al.Name, err))
			continue
		}
		for _, r := range out {
			if !r.Success && r.Error != "duplicate" {
				res.Problems = append(res.Problems, fmt.Sprintf("album %q: asset %s not added: %s", al.Name, r.ID, r.Error))
			}
		}
		res.Albums = append(res.Albums, al.Name)
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: %d problems", ErrIncomplete, len(res.Problems))
	}
	return res, nil
}

// uploadOne copies an asset's original (and sidecar) from the snapshot to
// temporary files, checks the original's SHA-1, and uploads it.
func uploadOne(ctx context.Context, a *GalleryAsset, cfg *Config, src FileSource, c *APIClient, tmpDir, deviceID, liveID string, liveVideo bool) (string, string, error) {
	hp, ok := cfg.HostPath(a.OriginalPath)
	if !ok {
		return "", "", fmt.Errorf("path %s not under UPLOAD_LOCATION nor an external-library mount", a.OriginalPath)
	}
	file, sum, err := spool(ctx, src, hp, tmpDir)
	if err != nil {
		return "", "", err
	}
	defer os.Remove(file)
	if a.Checksum != "" && (a.ChecksumAlgo == "" || a.ChecksumAlgo == "sha1") && sum != a.Checksum {
		return "", "", fmt.Errorf("checksum mismatch: the snapshot's file has SHA-1 %s, the database says %s (not uploaded)", sum, a.Checksum)
	}
	name := a.OriginalFileName
	if name == "" {
		name = path.Base(a.OriginalPath)
	}
	u := UploadRequest{
		File: file, FileName: name, Checksum: sum, DeviceAssetID: a.DeviceAssetID, DeviceID: a.DeviceID,
		FileCreatedAt: a.Taken, FileModifiedAt: a.modTime(), Favorite: a.Favorite, LivePhotoVideoID: liveID,
	}
	if u.DeviceAssetID == "" {
		u.DeviceAssetID = "immich-vault-" + a.ID
	}
	if u.DeviceID == "" {
		u.DeviceID = deviceID
	}
	switch {
	case liveVideo:
		u.Visibility = "hidden"
	case a.Visibility == "archive" || a.Visibility == "timeline":
		u.Visibility = a.Visibility
	}
	if u.FileCreatedAt.IsZero() {
		u.FileCreatedAt = time.Unix(0, 0)
	}
	if u.FileModifiedAt.IsZero() {
		u.FileModifiedAt = u.FileCreatedAt
	}
	if a.Sidecar != "" {
		if sp, ok := cfg.HostPath(a.Sidecar); ok {
			if sf, _, err := spool(ctx, src, sp, tmpDir); err == nil {
				defer os.Remove(sf)
				u.Sidecar = sf
			}
		}
	}
	return c.Upload(ctx, u)
}

// spool copies snapshot file p into a temporary file and returns its name
// and SHA-1.
func spool(ctx context.Context, src FileSource, p, tmpDir string) (string, string, error) {
	rc, err := src.Open(ctx, p)
	if err != nil {
		return "", "", fmt.Errorf("read from the snapshot: %w", err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return "", "", err
	}
	h := sha1.New()
	_, err = io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", fmt.Errorf("read from the snapshot: %w", err)
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}
