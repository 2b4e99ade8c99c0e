package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseStrictAndSettings(t *testing.T) {
	f, err := Parse([]byte(`
repository: /mnt/backup/vault
password_file: /etc/iv/password
immich:
  dir: /opt/immich
  quiesce: maintenance
  skip_generated: true
backup:
  paths: [/etc/extra]
  space_check: false
retention:
  keep_daily: 7
  keep_monthly: unlimited
  keep_within: 1y2m
check:
  read_data_rotation: 7
metrics_file: /tmp/m.prom
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range f.Settings("immich backup") {
		got[s.Flag] = strings.Join(s.Values, ",")
	}
	want := map[string]string{"immich-dir": "/opt/immich", "quiesce": "maintenance", "skip-generated": "true",
		"extra-path": "/etc/extra", "no-space-check": "true", "metrics-file": "/tmp/m.prom"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("immich backup: %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("immich backup took keys of other sections: %v", got)
	}
	// verify takes only the install keys: quiesce is not an error there.
	for _, s := range f.Settings("immich verify") {
		if s.Flag != "immich-dir" {
			t.Errorf("immich verify got %v", s)
		}
	}
	fg := map[string]string{}
	for _, s := range f.Settings("forget") {
		fg[s.Flag] = s.Values[0]
	}
	// metrics_file applies to forget as to every plain command.
	if fg["keep-daily"] != "7" || fg["keep-monthly"] != "unlimited" || fg["keep-within"] != "1y2m" || fg["metrics-file"] != "/tmp/m.prom" || len(fg) != 4 {
		t.Errorf("forget: %v", fg)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"repository: x\nretention:\n  keep_dayly: 7\n", `line 3: unknown key "keep_dayly" in retention:`},
		{"immich-dir: /opt/immich\nquiesce: stop\n", `unknown key "immich-dir" at the top level`},
		{"immich-dir: /opt/immich\n", `old "flag: value" config`},
		{"retention:\n  keep_daily: seven\n", `retention.keep_daily "seven"`},
		{"immich:\n  quiesce: pause\n", `immich.quiesce "pause"`},
		{"prune:\n  every: weekly\n", `prune.every "weekly"`},
		{"check:\n  read_data: true\n  read_data_rotation: 7\n", "exclude each other"},
		{"copy:\n  - name: a\n", "copy target 1 has no repository"},
		{"notify:\n  healthchecks: hc-ping.com/x\n", "not an http(s) URL"},
		{"notify:\n  webhooks:\n    - url: https://ntfy.sh/t\n      on: [always]\n", `on "always"`},
		{"backup:\n  wait_quiet: 20 minutes\n", "backup.wait_quiet"},
		{"", "empty"},
	} {
		_, err := Parse([]byte(c.in))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an ErrInvalid naming %q", c.in, err, c.want)
		}
	}
}

func TestTemplateParses(t *testing.T) {
	b := Template(Detected{ImmichDir: "/srv/immich", UploadLocation: "/srv/library", ImmichVersion: "v2.5.6", External: []string{"/mnt/photos"}})
	f, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if f.Immich == nil || f.Immich.Dir != "/srv/immich" || f.Retention.KeepDaily != "7" || f.Check.ReadDataRotation != 7 {
		t.Errorf("template decoded to %+v", f)
	}
	if !strings.Contains(string(b), "#   external library /mnt/photos") {
		t.Errorf("template lacks the detected external library:\n%s", b)
	}
}

func TestEvery(t *testing.T) {
	now := time.Date(2026, 3, 10, 3, 30, 0, 0, time.UTC)
	e, err := ParseEvery("7d")
	if err != nil || e.Interval != 7*24*time.Hour {
		t.Fatal(e, err)
	}
	if !e.Due(time.Time{}, now) || e.Due(now.Add(-6*24*time.Hour), now) || !e.Due(now.Add(-7*24*time.Hour+10*time.Minute), now) {
		t.Error("7d: wrong due decisions")
	}
	if n, _ := ParseEvery("never"); n.Due(time.Time{}, now) {
		t.Error("never is due")
	}
	if a, _ := ParseEvery("always"); !a.Due(now, now) {
		t.Error("always is not due")
	}
}
