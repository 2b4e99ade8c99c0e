package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/bench/ceiling"
)

// TestRerender: a run's JSON, whose cold bound was set by an older rule
// (the ceiling's slower read), is rendered again with the measured read,
// without running anything; a second pass changes nothing and says so.
func TestRerender(t *testing.T) {
	dir := t.TempDir()
	rep := &report{Machine: map[string]string{"cores": "2"}, Start: time.Date(2026, 12, 7, 6, 3, 0, 0, time.UTC),
		Rates:  ceiling.Rates{ReadCached: 13600e6, ReadDisk: 784e6, Chunk: 2376e6, Hash: 3000e6, Compress: 82e6, Encrypt: 3795e6, WriteCached: 3365e6, WriteFsync: 904e6},
		Floors: map[string]floors{"A": {Read: 1054597864, ReadWorkers: 32}}}
	cold := &scenario{Key: "coldA", Title: "Cold backup of corpus A", Bytes: 2160280259, RepoSize: map[string]int64{"immich-vault": 2160280259},
		Runs: map[string][]measurement{"immich-vault": {{Wall: 4140 * time.Millisecond}}}}
	cold.Bound = durationFor(cold.Bytes, rep.Rates.ReadDisk) + durationFor(cold.Bytes, rep.Rates.WriteFsync) // the old rule: 5.15 s
	rep.Scenarios = []*scenario{cold}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "run.json"), filepath.Join(dir, "R.md")
	if err := os.WriteFile(in, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("# kept\n"+beginMarker+"\nold\n"+endMarker+"\n# also kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rerenderMain(in, out); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(out)
	s := string(md)
	if !strings.Contains(s, "Cold backup of corpus A 5.15 s → 3.44 s") || !strings.Contains(s, "Bound: 3.44 s") {
		t.Errorf("re-rendered report lacks the recomputed bound:\n%s", s)
	}
	if !strings.HasPrefix(s, "# kept\n") || !strings.HasSuffix(s, "# also kept\n") || strings.Contains(s, "\nold\n") {
		t.Errorf("only the generated part may change:\n%s", s)
	}
	// Its JSON (beside out) holds the new bound: again, nothing changes.
	if err := rerenderMain(filepath.Join(dir, "R.json"), out); err != nil {
		t.Fatal(err)
	}
	md, _ = os.ReadFile(out)
	if s := string(md); !strings.Contains(s, "none changed") || strings.Count(s, "**Re-rendered:**") != 2 {
		t.Errorf("second pass: want both notes, the last saying none changed:\n%s", s)
	}
}
