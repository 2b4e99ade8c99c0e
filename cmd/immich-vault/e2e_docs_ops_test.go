package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fenced returns the bodies of the ```lang blocks of a Markdown file.
func fenced(t *testing.T, path, lang string) []string {
	t.Helper()
	b := mustRead(t, path)
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("%s has no %s block", path, lang)
	}
	return out
}

// TestDocsConfigExamples: every configuration example shipped in docs/
// passes `config validate` (syntax and every command's values; the files
// they name are on another machine).
func TestDocsConfigExamples(t *testing.T) {
	e := newEnv(t)
	examples := map[string]string{"systemd/config.yaml": string(mustRead(t, "../../docs/systemd/config.yaml"))}
	for i, b := range fenced(t, "../../docs/CONFIG.md", "yaml") {
		examples["CONFIG.md#"+string(rune('0'+i))] = b
	}
	for i, b := range fenced(t, "../../docs/NIGHTLY.md", "yaml") {
		examples["NIGHTLY.md#"+string(rune('0'+i))] = "repository: /r\nbackup:\n  paths: [/]\n" + b
	}
	// The Kubernetes ConfigMap's config.yaml.
	dec := yaml.NewDecoder(strings.NewReader(string(mustRead(t, "../../docs/kubernetes/cronjob.yaml"))))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if dec.Decode(&doc) != nil {
			break
		}
		if doc.Kind == "ConfigMap" {
			examples["kubernetes ConfigMap"] = doc.Data["config.yaml"]
		}
	}
	if _, ok := examples["kubernetes ConfigMap"]; !ok {
		t.Error("cronjob.yaml has no ConfigMap with config.yaml")
	}
	for name, body := range examples {
		p := filepath.Join(e.dir, "example.yaml")
		mustWrite(t, p, []byte(body), 0o600)
		if r := e.run("--config", p, "config", "validate", "--syntax-only"); r.code != 0 {
			t.Errorf("docs/%s does not validate:\n%v\n%s", name, r, body)
		}
	}
}

// TestNightlyWalkthrough executes docs/NIGHTLY.md as written, in order,
// with its paths mapped into the test's directories: init, config init,
// validate, offsite init on a real S3 server (plus the copy: block it
// shows), the first run, the cron line and the systemd unit's ExecStart
// (silent under --quiet), and the restore drill.
func TestNightlyWalkthrough(t *testing.T) {
	re := newRunEnv(t, "") // for its Immich install, S3 server and env
	dir := re.env.dir
	cfg := filepath.Join(dir, "etc", "config.yaml")
	mustMkdirAll(t, filepath.Dir(cfg))
	repoDir := filepath.Join(dir, "walk-repo")
	drill := filepath.Join(dir, "restore-drill")
	sub := strings.NewReplacer(
		"/usr/local/bin/immich-vault", "immich-vault",
		"/etc/immich-vault/config.yaml", cfg,
		"/etc/immich-vault/password", filepath.Join(dir, "password"),
		"/mnt/backup/immich-vault", repoDir,
		"/opt/immich", re.dir,
		"s3:https://s3.example.com/immich-offsite/vault", re.offsite,
		"/srv/restore-drill", drill,
	)
	exec := func(line string) result {
		t.Helper()
		f := strings.Fields(sub.Replace(line))
		var env []string
		for len(f) > 0 && strings.Contains(f[0], "=") {
			env, f = append(env, f[0]), f[1:]
		}
		if len(f) == 0 || f[0] != "immich-vault" {
			t.Fatalf("not an immich-vault command: %q", line)
		}
		o := opts{password: strPtr(""), noRepoEnv: true, extraEnv: append(append(append([]string{}, re.extra...), re.aws...), env...)}
		r := re.runOpts(o, f[1:]...)
		if r.code != 0 {
			t.Fatalf("NIGHTLY.md: %s\n%v", line, r)
		}
		return r
	}
	blocks := fenced(t, "../../docs/NIGHTLY.md", "sh")
	yamls := fenced(t, "../../docs/NIGHTLY.md", "yaml")
	ran := 0
	for _, b := range blocks {
		for _, line := range strings.Split(b, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "make ") || strings.HasPrefix(line, "sudo ") || strings.HasPrefix(line, "head ") {
				continue
			}
			exec(line)
			ran++
			if strings.Contains(line, "--copy-chunker-params-from") {
				// "then add it to the configuration's copy: list"
				c := string(mustRead(t, cfg))
				mustWrite(t, cfg, []byte(c+"\n"+sub.Replace(yamls[0])), 0o600)
			}
			if strings.Contains(line, "immich restore latest") {
				compareTrees(t, re.f.Upload, drill, compareOpts{ignoreOwner: os.Geteuid() != 0})
			}
		}
	}
	if ran < 8 {
		t.Errorf("ran %d commands of NIGHTLY.md", ran)
	}
	// The schedule: the cron lines (NIGHTLY.md, cron.md) and the unit.
	var sched []string
	for _, p := range []string{"../../docs/NIGHTLY.md", "../../docs/cron.md"} {
		for _, b := range fenced(t, p, "cron") {
			for _, l := range strings.Split(b, "\n") {
				if i := strings.Index(l, "/usr/local/bin/immich-vault "); i >= 0 && !strings.HasPrefix(l, "#") {
					sched = append(sched, l[i:])
				}
			}
		}
	}
	unit := string(mustRead(t, "../../docs/systemd/immich-vault.service"))
	m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("immich-vault.service has no ExecStart")
	}
	sched = append(sched, m[1])
	for _, l := range sched {
		r := exec(l)
		if strings.Contains(l, "--quiet") && (r.stdout != "" || r.stderr != "") {
			t.Errorf("%s is not silent under --quiet:\n%v", l, r)
		}
	}
	if len(sched) < 4 {
		t.Errorf("found %d scheduled command lines", len(sched))
	}
	r := exec("immich-vault -r " + re.offsite + " --password-file /etc/immich-vault/password snapshots --json")
	// Retention applies offsite too (TestRunNightlyImmichS3 checks the
	// exact count); here: the copies arrived.
	if n := len(decodeJSON[[]map[string]any](t, r)); n < 1 {
		t.Errorf("offsite holds %d snapshots after the walkthrough's 4 runs", n)
	}
}
