// Package config reads immich-vault's configuration file: one YAML file
// with the repository, what to back up, the retention, check and prune
// policies, offsite copy targets, hooks, notifications, metrics and log
// files (docs/CONFIG.md documents every key).
//
// Decoding is strict: a key this package does not know is an error naming
// its line, so a typo never silently disables retention. Every command
// reads only the sections it needs (Settings), so a key meant for another
// command is never an error.
//
// The package only parses and checks syntax; cmd/immich-vault applies the
// values to the commands' flags, whose own parsers then check them again.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid marks every error about the file's content (as opposed to
// failing to read it).
var ErrInvalid = errors.New("config: invalid")

// File is the whole configuration file.
type File struct {
	// Path is where the file was read from (not a key).
	Path string `yaml:"-"`

	Repository      string `yaml:"repository"`
	PasswordFile    string `yaml:"password_file"`
	PasswordCommand string `yaml:"password_command"`
	CacheDir        string `yaml:"cache_dir"`

	Immich    *Immich      `yaml:"immich"`
	Backup    Backup       `yaml:"backup"`
	Retention Retention    `yaml:"retention"`
	Prune     Prune        `yaml:"prune"`
	Check     Check        `yaml:"check"`
	Copy      []CopyTarget `yaml:"copy"`
	Hooks     Hooks        `yaml:"hooks"`
	Notify    Notify       `yaml:"notify"`
	Daemon    *Daemon      `yaml:"daemon"`

	MetricsFile string `yaml:"metrics_file"`
	LogFile     string `yaml:"log_file"`
}

// Immich locates the Immich install and says how to back it up.
type Immich struct {
	Dir             string   `yaml:"dir"`
	UploadLocation  string   `yaml:"upload_location"`
	DBMode          string   `yaml:"db_mode"`
	DBContainer     string   `yaml:"db_container"`
	DBUser          string   `yaml:"db_user"`
	DBName          string   `yaml:"db_name"`
	ServerContainer string   `yaml:"server_container"`
	PGBinDir        string   `yaml:"pg_bin_dir"`
	URL             string   `yaml:"url"`
	Quiesce         string   `yaml:"quiesce"`
	QuiesceTimeout  string   `yaml:"quiesce_timeout"`
	StateDir        string   `yaml:"state_dir"`
	SkipGenerated   *bool    `yaml:"skip_generated"`
	SkipImmichDumps *bool    `yaml:"skip_immich_dumps"`
	Globals         *bool    `yaml:"globals"`
	ExtraCommands   []string `yaml:"extra_commands"`
}

// Backup says what else to back up and where the repository must be.
type Backup struct {
	Paths         []string `yaml:"paths"`
	Exclude       []string `yaml:"exclude"`
	ExcludeFiles  []string `yaml:"exclude_files"`
	ExcludeCaches *bool    `yaml:"exclude_caches"`
	OneFileSystem *bool    `yaml:"one_file_system"`
	Tags          []string `yaml:"tags"`
	Host          string   `yaml:"host"`
	WaitQuiet     string   `yaml:"wait_quiet"`
	WaitQuietMax  string   `yaml:"wait_quiet_max"`
	RequireMount  string   `yaml:"require_mount"`
	RequireUUID   string   `yaml:"require_uuid"`
	SpaceCheck    *bool    `yaml:"space_check"`
}

// Retention is the forget policy (restic's --keep-* rules).
type Retention struct {
	KeepLast          string   `yaml:"keep_last"`
	KeepHourly        string   `yaml:"keep_hourly"`
	KeepDaily         string   `yaml:"keep_daily"`
	KeepWeekly        string   `yaml:"keep_weekly"`
	KeepMonthly       string   `yaml:"keep_monthly"`
	KeepYearly        string   `yaml:"keep_yearly"`
	KeepWithin        string   `yaml:"keep_within"`
	KeepWithinHourly  string   `yaml:"keep_within_hourly"`
	KeepWithinDaily   string   `yaml:"keep_within_daily"`
	KeepWithinWeekly  string   `yaml:"keep_within_weekly"`
	KeepWithinMonthly string   `yaml:"keep_within_monthly"`
	KeepWithinYearly  string   `yaml:"keep_within_yearly"`
	KeepTag           []string `yaml:"keep_tag"`
	GroupBy           *string  `yaml:"group_by"`
}

// Empty reports whether no keep rule is set (forget is then skipped by run).
func (r Retention) Empty() bool {
	for _, v := range r.rules() {
		if v[1] != "" {
			return false
		}
	}
	return len(r.KeepTag) == 0
}

func (r Retention) rules() [][2]string {
	return [][2]string{
		{"keep-last", r.KeepLast}, {"keep-hourly", r.KeepHourly}, {"keep-daily", r.KeepDaily},
		{"keep-weekly", r.KeepWeekly}, {"keep-monthly", r.KeepMonthly}, {"keep-yearly", r.KeepYearly},
		{"keep-within", r.KeepWithin}, {"keep-within-hourly", r.KeepWithinHourly},
		{"keep-within-daily", r.KeepWithinDaily}, {"keep-within-weekly", r.KeepWithinWeekly},
		{"keep-within-monthly", r.KeepWithinMonthly}, {"keep-within-yearly", r.KeepWithinYearly},
	}
}

// Prune says when run prunes and how.
type Prune struct {
	// Every is the interval between prunes in run ("7d", "24h"; "always":
	// every run; "never"). Default: 7d.
	Every         string `yaml:"every"`
	MaxUnused     string `yaml:"max_unused"`
	MaxRepackSize string `yaml:"max_repack_size"`
}

// Check says how much data run (and check) read back.
type Check struct {
	// Every is the interval between checks in run ("1d", "always",
	// "never"). Default: always.
	Every string `yaml:"every"`
	// ReadData reads every pack (check --read-data).
	ReadData *bool `yaml:"read_data"`
	// ReadDataSubset is check's --read-data-subset (n/m, P%, SIZE).
	ReadDataSubset string `yaml:"read_data_subset"`
	// ReadDataRotation m reads group (day number mod m)+1 of m on each
	// run: m consecutive daily runs read every pack once.
	ReadDataRotation int `yaml:"read_data_rotation"`
}

// CopyTarget is an offsite repository that run copies every snapshot to.
type CopyTarget struct {
	Name            string `yaml:"name"`
	Repository      string `yaml:"repository"`
	PasswordFile    string `yaml:"password_file"`
	PasswordCommand string `yaml:"password_command"`
}

// Label names the target in reports and metrics.
func (c CopyTarget) Label() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Repository
}

// Hooks are shell commands run by run (sh -c), each bounded by Timeout.
type Hooks struct {
	Timeout   string   `yaml:"timeout"`
	Before    []string `yaml:"before"`
	After     []string `yaml:"after"`
	OnFailure []string `yaml:"on_failure"`
}

// Notify are the monitors run pings.
type Notify struct {
	Timeout      string   `yaml:"timeout"`
	Healthchecks string   `yaml:"healthchecks"`
	Webhooks     []Hookup `yaml:"webhooks"`
}

// Hookup is one generic webhook (ntfy, Gotify, Apprise API, ...).
type Hookup struct {
	URL     string            `yaml:"url"`
	On      []string          `yaml:"on"`     // start, success, failure (default: failure)
	Format  string            `yaml:"format"` // text (default) or json
	Headers map[string]string `yaml:"headers"`
}

// Load reads and strictly decodes path.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

var (
	unknownRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)
	sections  = map[string]string{"File": "at the top level", "Immich": "in immich:", "Backup": "in backup:",
		"Retention": "in retention:", "Prune": "in prune:", "Check": "in check:", "CopyTarget": "in a copy: target",
		"Hooks": "in hooks:", "Notify": "in notify:", "Hookup": "in a notify webhook",
		"Daemon": "in daemon:", "Job": "in a daemon job", "DaemonServe": "in daemon.serve:"}
)

// Parse strictly decodes b and checks what can be checked without the
// commands: value syntax, exclusive keys, URLs.
func Parse(b []byte) (*File, error) {
	f := &File{}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrInvalid)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = unknownRe.ReplaceAllStringFunc(msg, func(s string) string {
			m := unknownRe.FindStringSubmatch(s)
			return fmt.Sprintf("line %s: unknown key %q %s", m[1], m[2], sections[m[3]])
		})
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		if strings.Contains(msg, "unknown key") && strings.Contains(msg, "at the top level") && looksFlat(b) {
			msg += "\n(this looks like the old \"flag: value\" config: the configuration file is YAML with sections now; " +
				"`immich-vault config init --immich-dir DIR` writes one, docs/CONFIG.md lists every key)"
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// looksFlat reports whether the top-level keys use dashes (flag names).
func looksFlat(b []byte) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") && strings.Contains(k, "-") && !strings.HasPrefix(k, "#") {
			return true
		}
	}
	return false
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (f *File) validate() error {
	if f.PasswordFile != "" && f.PasswordCommand != "" {
		return invalid("password_file and password_command exclude each other: give one")
	}
	if f.Immich != nil {
		if q := f.Immich.Quiesce; q != "" && q != "none" && q != "stop" && q != "maintenance" {
			return invalid("immich.quiesce %q: want none, stop or maintenance", q)
		}
		if m := f.Immich.DBMode; m != "" && m != "docker" && m != "direct" {
			return invalid("immich.db_mode %q: want docker or direct", m)
		}
		if err := duration("immich.quiesce_timeout", f.Immich.QuiesceTimeout); err != nil {
			return err
		}
	}
	for k, v := range map[string]string{"backup.wait_quiet": f.Backup.WaitQuiet, "backup.wait_quiet_max": f.Backup.WaitQuietMax,
		"hooks.timeout": f.Hooks.Timeout, "notify.timeout": f.Notify.Timeout} {
		if err := duration(k, v); err != nil {
			return err
		}
	}
	for _, v := range f.Retention.rules() {
		if v[1] == "" {
			continue
		}
		if strings.HasPrefix(v[0], "keep-within") {
			if !withinRe.MatchString(v[1]) {
				return invalid("retention.%s %q: want a duration such as 1y5m7d2h", strings.ReplaceAll(v[0], "-", "_"), v[1])
			}
		} else if n, err := strconv.Atoi(v[1]); v[1] != "unlimited" && (err != nil || n < -1) {
			return invalid("retention.%s %q: want a number or unlimited", strings.ReplaceAll(v[0], "-", "_"), v[1])
		}
	}
	for k, v := range map[string]string{"prune.every": f.Prune.Every, "check.every": f.Check.Every} {
		if _, err := ParseEvery(v); err != nil {
			return invalid("%s %q: %v", k, v, err)
		}
	}
	c := f.Check
	n := 0
	if c.ReadData != nil && *c.ReadData {
		n++
	}
	if c.ReadDataSubset != "" {
		n++
	}
	if c.ReadDataRotation != 0 {
		n++
		if c.ReadDataRotation < 1 {
			return invalid("check.read_data_rotation %d: want a number of days (e.g. 7)", c.ReadDataRotation)
		}
	}
	if n > 1 {
		return invalid("check: read_data, read_data_subset and read_data_rotation exclude each other: give one")
	}
	seen := map[string]bool{}
	for i, t := range f.Copy {
		if t.Repository == "" {
			return invalid("copy target %d has no repository", i+1)
		}
		if t.PasswordFile != "" && t.PasswordCommand != "" {
			return invalid("copy target %s: password_file and password_command exclude each other", t.Label())
		}
		if seen[t.Label()] {
			return invalid("copy target %s is listed twice", t.Label())
		}
		seen[t.Label()] = true
	}
	if f.Daemon != nil {
		if err := f.Daemon.validate(); err != nil {
			return err
		}
	}
	if u := f.Notify.Healthchecks; u != "" {
		if err := httpURL(u); err != nil {
			return invalid("notify.healthchecks: %v", err)
		}
	}
	for i, w := range f.Notify.Webhooks {
		if err := httpURL(w.URL); err != nil {
			return invalid("notify.webhooks[%d].url: %v", i, err)
		}
		for _, on := range w.On {
			if on != "start" && on != "success" && on != "failure" {
				return invalid("notify.webhooks[%d].on %q: want start, success or failure", i, on)
			}
		}
		if w.Format != "" && w.Format != "text" && w.Format != "json" {
			return invalid("notify.webhooks[%d].format %q: want text or json", i, w.Format)
		}
	}
	return nil
}

var withinRe = regexp.MustCompile(`^(\d+[ymdh])+$`)

func duration(key, v string) error {
	if v == "" {
		return nil
	}
	if d, err := time.ParseDuration(v); err != nil || d < 0 {
		return invalid("%s %q: want a duration such as 30s, 20m or 2h", key, v)
	}
	return nil
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// Every is a schedule of an optional run step.
type Every struct {
	Never, Always bool
	Interval      time.Duration
}

// ParseEvery parses "always", "never", a Go duration or Nd (days).
// "" is the zero Every (the caller picks the default).
func ParseEvery(s string) (Every, error) {
	switch s {
	case "":
		return Every{}, nil
	case "always":
		return Every{Always: true}, nil
	case "never":
		return Every{Never: true}, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return Every{}, errors.New("want always, never, a number of days (7d) or a duration (12h)")
		}
		return Every{Interval: time.Duration(n) * 24 * time.Hour}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Every{}, errors.New("want always, never, a number of days (7d) or a duration (12h)")
	}
	return Every{Interval: d}, nil
}

// Due reports whether a step last done at last (zero: never) is due now.
func (e Every) Due(last, now time.Time) bool {
	switch {
	case e.Never:
		return false
	case e.Always || e.Interval == 0:
		return true
	}
	// A little slack so a nightly timer's jitter does not skip a day.
	return last.IsZero() || now.Sub(last) >= e.Interval-e.Interval/24
}
