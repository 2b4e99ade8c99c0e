package main_test

import (
	"path"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocsContainerCompose checks docs/CONTAINER.md's compose snippet
// against its configuration file: the configuration validates; every path
// the configuration names in the container (upload_location, repository,
// password and metrics files, and the image's /config) is a mounted volume;
// UPLOAD_LOCATION is mounted read-only; the docker socket is mounted exactly
// when the configuration needs it (db_mode docker or quiesce stop); the
// service runs the daemon with a stop grace period and the daemon's health
// check. (Compose itself is not on this machine: packaging/image/test.sh
// runs the image with podman.)
func TestDocsContainerCompose(t *testing.T) {
	e := newEnv(t)
	var compose, conf string
	for _, b := range fenced(t, "../../docs/CONTAINER.md", "yaml") {
		switch {
		case strings.HasPrefix(b, "services:"):
			compose = b
		case strings.Contains(b, "\ndaemon:"):
			conf = b
		}
	}
	if compose == "" || conf == "" {
		t.Fatal("docs/CONTAINER.md: want a compose block (services:) and a configuration block (daemon:)")
	}
	p := filepath.Join(e.dir, "config.yaml")
	mustWrite(t, p, []byte(conf), 0o600)
	if r := e.run("--config", p, "config", "validate", "--syntax-only"); r.code != 0 {
		t.Fatalf("the configuration of CONTAINER.md does not validate:\n%v", r)
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			StopGrace   string            `yaml:"stop_grace_period"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(compose), &c); err != nil {
		t.Fatalf("compose snippet: %v", err)
	}
	svc, ok := c.Services["immich-vault"]
	if !ok {
		t.Fatalf("compose snippet has no immich-vault service: %+v", c)
	}
	var cfg struct {
		Repository   string `yaml:"repository"`
		PasswordFile string `yaml:"password_file"`
		MetricsFile  string `yaml:"metrics_file"`
		Immich       struct {
			UploadLocation string `yaml:"upload_location"`
			DBMode         string `yaml:"db_mode"`
			Quiesce        string `yaml:"quiesce"`
		} `yaml:"immich"`
	}
	if err := yaml.Unmarshal([]byte(conf), &cfg); err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{} // container path -> options
	socket := false
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("volume %q: want SOURCE:TARGET[:ro]", v)
			continue
		}
		opt := ""
		if len(parts) > 2 {
			opt = parts[2]
		}
		mounts[parts[1]] = opt
		if strings.HasSuffix(parts[0], "docker.sock") {
			socket = true
		}
		if strings.HasPrefix(parts[0], "${UPLOAD_LOCATION}") && opt != "ro" {
			t.Errorf("UPLOAD_LOCATION is mounted writable: %q", v)
		}
	}
	mounted := func(what, p string) {
		for d := p; d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := mounts[d]; ok {
				return
			}
		}
		t.Errorf("%s %s is not on a mounted volume (volumes: %v)", what, p, svc.Volumes)
	}
	mounted("immich.upload_location", cfg.Immich.UploadLocation)
	mounted("repository", cfg.Repository)
	mounted("password_file", cfg.PasswordFile)
	mounted("metrics_file", cfg.MetricsFile)
	mounted("the image's IMMICH_VAULT_CONFIG", "/config/config.yaml")
	if mounts[cfg.Immich.UploadLocation] != "ro" {
		t.Errorf("upload_location %s is not mounted read-only", cfg.Immich.UploadLocation)
	}
	needSocket := cfg.Immich.DBMode != "direct" || cfg.Immich.Quiesce == "stop"
	if socket != needSocket {
		t.Errorf("docker socket mounted: %v, but the configuration (db_mode %q, quiesce %q) needs it: %v", socket, cfg.Immich.DBMode, cfg.Immich.Quiesce, needSocket)
	}
	if cfg.Immich.DBMode == "direct" && svc.Environment["PGHOST"] == "" {
		t.Errorf("db_mode direct without PGHOST in the environment")
	}
	if cfg.Immich.Quiesce == "maintenance" && svc.Environment["IMMICH_API_KEY"] == "" {
		t.Errorf("quiesce maintenance without the docker socket needs IMMICH_API_KEY")
	}
	if strings.Join(svc.Command, " ") != "daemon" || svc.StopGrace == "" || !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), "daemon health") {
		t.Errorf("service: command %v, stop_grace_period %q, healthcheck %v", svc.Command, svc.StopGrace, svc.Healthcheck.Test)
	}
	if !strings.HasPrefix(svc.Image, "immich-vault:") {
		t.Errorf("image %q is not the one make image builds", svc.Image)
	}
}
