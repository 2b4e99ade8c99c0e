package main

import (
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/repo"
)

// The progress line of check --read-data (counted in packs) has the total,
// share and ETA; restore's names the snapshot's file count, never "of 0
// files".
func TestProgressLineTotals(t *testing.T) {
	p := &repo.Progress{}
	p.Files.Store(10)
	pp := &progressPrinter{p: p, start: time.Now().Add(-10 * time.Second), verb: "check: packs",
		total: func() (int64, int64, bool) { return 40, 0, true }}
	if l := pp.line(); !strings.Contains(l, "check: packs 10 of 40 (25%) ETA 00:30") {
		t.Errorf("check line: %q", l)
	}
	p = &repo.Progress{}
	p.Files.Store(3)
	p.Bytes.Store(50 << 20)
	pp = &progressPrinter{p: p, start: time.Now().Add(-10 * time.Second), verb: "restore",
		total: func() (int64, int64, bool) { return 12, 100 << 20, true }}
	if l := pp.line(); !strings.Contains(l, "restore 3 files") || !strings.Contains(l, "of 12 files, 100 MiB (50%) ETA 00:10") {
		t.Errorf("restore line: %q", l)
	}
	pp.total = func() (int64, int64, bool) { return 0, 100 << 20, true }
	if l := pp.line(); strings.Contains(l, "of 0 files") {
		t.Errorf("line with an unknown file count: %q", l)
	}
}
