package immich

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/internal/immichtest"
)

const composeYAML = `name: immich
services:
  immich-server:
    container_name: immich_server
    image: ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}
    volumes:
      - ${UPLOAD_LOCATION}:/data
      - /etc/localtime:/etc/localtime:ro
      - /mnt/nas/christmas-trip:/mnt/media/christmas-trip:ro
      - type: bind
        source: ./family
        target: /mnt/media/family
        read_only: true
      - model-cache:/cache
  database:
    container_name: immich_postgres
    image: ghcr.io/immich-app/postgres:14-vectorchord0.4.3
volumes:
  model-cache:
`

func TestLoadInstall(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".env"), []byte("UPLOAD_LOCATION=./library # where photos go\nDB_USERNAME='immich_user'\nDB_DATABASE_NAME=\"photos\"\nIMMICH_VERSION=v2.5.6\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(composeYAML), 0o600)
	os.WriteFile(filepath.Join(dir, "hwaccel.transcoding.yml"), []byte("services: {}\n"), 0o600)
	c, err := LoadInstall(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ImmichDir: dir, UploadLocation: filepath.Join(dir, "library"), ImmichVersion: "v2.5.6", ServerContainer: "immich_server",
		DB: DBConfig{Mode: "docker", Container: "immich_postgres", User: "immich_user", Name: "photos"},
		External: []Mount{
			{Host: "/mnt/nas/christmas-trip", Container: "/mnt/media/christmas-trip", ReadOnly: true},
			{Host: filepath.Join(dir, "family"), Container: "/mnt/media/family", ReadOnly: true},
		},
		Files: []string{filepath.Join(dir, ".env"), filepath.Join(dir, "docker-compose.yml"), filepath.Join(dir, "hwaccel.transcoding.yml")},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	for in, out := range map[string]string{
		"/data/library/admin/a.jpg":           filepath.Join(dir, "library/library/admin/a.jpg"),
		"/usr/src/app/upload/upload/u/a.jpg":  filepath.Join(dir, "library/upload/u/a.jpg"),
		"upload/thumbs/u/a.webp":              filepath.Join(dir, "library/thumbs/u/a.webp"),
		"/mnt/media/christmas-trip/DSC.jpg":   "/mnt/nas/christmas-trip/DSC.jpg",
		"/mnt/media/family/x/y.jpg":           filepath.Join(dir, "family/x/y.jpg"),
		"/mnt/media/christmas-trip-2/DSC.jpg": "",
		"/somewhere/else.jpg":                 "",
	} {
		got, ok := c.HostPath(in)
		if got != out || ok != (out != "") {
			t.Errorf("HostPath(%q) = %q, %v; want %q", in, got, ok, out)
		}
	}
	os.Remove(filepath.Join(dir, "docker-compose.yml"))
	os.Remove(filepath.Join(dir, "hwaccel.transcoding.yml"))
	if _, err := LoadInstall(dir); err == nil {
		t.Error("no compose file: want an error")
	}
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"A": "a", "E": ""}
	for in, want := range map[string]string{
		"$A/${A}": "a/a", "${E:-d}": "d", "${E-d}": "", "${N-d}": "d", "${A:+x}": "x", "$$A": "$A", "${A": "${A", "$1": "$1",
	} {
		if got := Interpolate(in, vars); got != want {
			t.Errorf("Interpolate(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQuiesceMaintenanceAPI drives the Immich server double
// (internal/immichtest, which behaves like the real v3 server): Pause
// returns only once the maintenance worker answers, and resume, run after
// the context is cancelled (Ctrl-C), ends maintenance with the token and
// returns once the normal server answers.
func TestQuiesceMaintenanceAPI(t *testing.T) {
	srv := immichtest.Start(t, t.TempDir())
	srv.RestartDelay = 300 * time.Millisecond
	j, err := OpenJournal(t.TempDir(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	q := &Quiescer{Mode: QuiesceMaintenance, URL: srv.URL, APIKey: srv.APIKey, Poll: 20 * time.Millisecond, Journal: j}
	ctx, cancel := context.WithCancel(context.Background())
	resume, err := q.Pause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := srv.Mode(); m != "maintenance" {
		t.Fatalf("after Pause the server is %q, want the maintenance worker", m)
	}
	if rec, _ := j.Read(); rec == nil || rec.Token == "" {
		t.Fatalf("journal while quiesced: %+v", rec)
	}
	cancel() // Ctrl-C: the undo must still run
	if err := resume(); err != nil {
		t.Fatal(err)
	}
	resume() // idempotent
	if m := srv.Mode(); m != "normal" {
		t.Fatalf("after resume the server is %q; requests: %v", m, srv.Log())
	}
	if rec, _ := j.Read(); rec != nil {
		t.Fatalf("journal left after resume: %+v", rec)
	}
	// Ending with the API key instead of the token (what the old code did)
	// is refused by the worker.
	found := false
	for _, l := range srv.Log() {
		found = found || l == "POST /api/admin/maintenance -> 201"
	}
	if !found {
		t.Errorf("requests: %v", srv.Log())
	}
	if _, err := (&Quiescer{Mode: QuiesceMaintenance}).Pause(context.Background()); err == nil {
		t.Error("no URL: want an error")
	}
}
