package main_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackupJSONStream: backup --json prints one JSON object per line,
// restic's way: status lines (message_type "status": files and bytes done of
// the totals, percent) and last the summary (message_type "summary"); with
// --quiet only the summary. check --json has [] where it had null, and
// times are RFC 3339.
func TestBackupJSONStream(t *testing.T) {
	e := newEnv(t)
	e.initRepo()
	src := filepath.Join(e.dir, "src")
	mustMkdirAll(t, src)
	for i := 0; i < 5; i++ {
		mustWrite(t, filepath.Join(src, string(rune('a'+i))), []byte(strings.Repeat("x", 1000*(i+1))), 0o644)
	}
	r := e.ok("backup", "--json", src)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var msgs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not one JSON object: %v\n%v", l, err, r)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) < 3 || msgs[0]["message_type"] != "status" || msgs[len(msgs)-1]["message_type"] != "summary" {
		t.Fatalf("want status lines then the summary:\n%v", r)
	}
	if id, _ := msgs[len(msgs)-1]["snapshot_id"].(string); !isHexID(id) {
		t.Errorf("summary without snapshot_id:\n%v", r)
	}
	last := msgs[len(msgs)-2]
	if last["message_type"] != "status" || last["percent_done"] != 1.0 || last["files_done"] != 5.0 || last["total_files"] != 5.0 || last["total_bytes"] != 15000.0 || last["bytes_done"] != 15000.0 {
		t.Errorf("last status line: %v\n%v", last, r)
	}
	for _, m := range msgs[:len(msgs)-1] {
		if m["message_type"] != "status" {
			t.Errorf("unexpected message %v", m)
		}
	}
	r = e.ok("backup", "--json", "--quiet", src)
	if n := len(strings.Split(strings.TrimSpace(r.stdout), "\n")); n != 1 || !strings.Contains(r.stdout, `"message_type":"summary"`) {
		t.Errorf("--json --quiet: want the summary alone:\n%v", r)
	}

	r = e.ok("check", "--json")
	if strings.Contains(r.stdout, "null") {
		t.Errorf("check --json has null:\n%v", r)
	}
	c := decodeJSON[map[string]any](t, r)
	for _, k := range []string{"problems", "damaged_blobs", "affected_files", "unindexed_packs", "damaged_snapshots"} {
		if l, ok := c[k].([]any); !ok || len(l) != 0 {
			t.Errorf("check --json %s = %v, want []", k, c[k])
		}
	}
	for _, s := range e.snapshots() {
		if _, err := time.Parse(time.RFC3339, s.Time); err != nil {
			t.Errorf("snapshot time %q is not RFC 3339: %v", s.Time, err)
		}
	}
}
