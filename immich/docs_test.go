package immich

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// cliFlags returns the long flag names the immich commands define (read
// from their source, so a renamed flag breaks the shipped examples' test).
func cliFlags(t *testing.T) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob("../cmd/immich-vault/cmd_immich*.go")
	if len(files) == 0 {
		t.Fatal("no cmd_immich*.go found")
	}
	re := regexp.MustCompile(`\.(?:String|Bool|Duration|Int|StringArray|StringSlice)(?:Var)?P?\(&[^,]+, "([a-z-]+)"`)
	out := map[string]bool{"quiet": true, "json": true, "repo": true, "verbose": true, "config": true}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
	}
	if !out["immich-dir"] || !out["checksums"] {
		t.Fatalf("flag extraction broken: %v", out)
	}
	return out
}

func checkArgs(t *testing.T, where string, args []string, flags map[string]bool) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !flags[name] {
			t.Errorf("%s uses unknown flag --%s", where, name)
		}
	}
}

func TestKubernetesCronJob(t *testing.T) {
	b, err := os.ReadFile("../docs/kubernetes/cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Schedule          string `yaml:"schedule"`
			ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
			JobTemplate       struct {
				Spec struct {
					Template struct {
						Spec struct {
							RestartPolicy string `yaml:"restartPolicy"`
							Containers    []struct {
								Args []string `yaml:"args"`
								Env  []struct {
									Name string `yaml:"name"`
								} `yaml:"env"`
								VolumeMounts []struct {
									MountPath string `yaml:"mountPath"`
									ReadOnly  bool   `yaml:"readOnly"`
								} `yaml:"volumeMounts"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for cj.Kind != "CronJob" {
		if err := dec.Decode(&cj); err != nil {
			t.Fatalf("no CronJob document: %v", err)
		}
	}
	if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" || len(strings.Fields(cj.Spec.Schedule)) != 5 || cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("header: %+v", cj)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if pod.RestartPolicy != "Never" || len(pod.Containers) != 1 {
		t.Fatalf("pod: %+v", pod)
	}
	c := pod.Containers[0]
	if len(c.Args) < 2 || c.Args[0] != "run" {
		t.Fatalf("args %v", c.Args)
	}
	checkArgs(t, "cronjob.yaml", c.Args, cliFlags(t))
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = true
	}
	for _, want := range []string{"IMMICH_VAULT_REPOSITORY", "PGHOST", "PGDATABASE", "PGPASSWORD"} {
		if !env[want] {
			t.Errorf("env lacks %s", want)
		}
	}
	if len(c.VolumeMounts) == 0 || c.VolumeMounts[0].MountPath != "/data" || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("library mount: %+v", c.VolumeMounts)
	}
}

// The cron and configuration examples are executed by the end-to-end
// tests TestNightlyWalkthrough and TestDocsConfigExamples.

func TestSystemdUnits(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze missing (CI=true)")
		}
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	self, _ := os.Executable() // any executable stands in for the installed binary
	for _, n := range []string{"immich-vault.service", "immich-vault.timer"} {
		b, err := os.ReadFile(filepath.Join("../docs/systemd", n))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/immich-vault", self)
		if n == "immich-vault.service" {
			// Executed as written by TestNightlyWalkthrough (cmd/immich-vault).
			if !strings.Contains(s, self+" run --config ") {
				t.Fatal("service does not run `immich-vault run --config`")
			}
		}
		os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644)
	}
	out, err := exec.Command(sa, "verify", filepath.Join(dir, "immich-vault.service"), filepath.Join(dir, "immich-vault.timer")).CombinedOutput()
	// Lines about the host's own units are not ours.
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "immich-vault") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
