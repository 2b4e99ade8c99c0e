package main

import (
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/internal/config"
)

// TestConfigSettingsMatchFlags: every key of every section names a flag the
// command it is given to really has, and its value parses there.
func TestConfigSettingsMatchFlags(t *testing.T) {
	yes := true
	no := false
	g := "host"
	f := &config.File{Path: "all.yaml",
		Immich: &config.Immich{Dir: "/d", UploadLocation: "/u", DBMode: "direct", DBContainer: "c", DBUser: "u", DBName: "n",
			ServerContainer: "s", PGBinDir: "/b", URL: "http://x", Quiesce: "stop", QuiesceTimeout: "1m", StateDir: "/s",
			SkipGenerated: &yes, SkipImmichDumps: &yes, Globals: &yes, ExtraCommands: []string{"true"}},
		Backup: config.Backup{Paths: []string{"/p"}, Exclude: []string{"*.tmp"}, ExcludeFiles: []string{"/x"}, ExcludeCaches: &yes,
			OneFileSystem: &yes, Tags: []string{"t"}, Host: "h", WaitQuiet: "1m", WaitQuietMax: "2m", RequireMount: "/m",
			RequireUUID: "u", SpaceCheck: &no},
		Retention: config.Retention{KeepLast: "1", KeepHourly: "1", KeepDaily: "1", KeepWeekly: "1", KeepMonthly: "1", KeepYearly: "unlimited",
			KeepWithin: "1d", KeepWithinHourly: "1d", KeepWithinDaily: "1d", KeepWithinWeekly: "1d", KeepWithinMonthly: "1m",
			KeepWithinYearly: "1y", KeepTag: []string{"keep"}, GroupBy: &g},
		Prune:       config.Prune{MaxUnused: "10%", MaxRepackSize: "1G"},
		Check:       config.Check{ReadDataSubset: "1/7"},
		MetricsFile: "/m.prom", LogFile: "/l.log",
	}
	n := 0
	for _, key := range config.Commands {
		c := commandFor(key)
		if c == nil {
			t.Fatalf("no command %q", key)
		}
		if err := applySettings(c, f, key, nil); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		n += len(f.Settings(key))
	}
	if n < 50 {
		t.Errorf("only %d settings applied: the table lost keys", n)
	}
	if p := checkValues(f); len(p) > 0 {
		t.Errorf("checkValues: %s", strings.Join(p, "; "))
	}
}
