package main

import (
	"fmt"

	"github.com/dustin/go-humanize"

	"github.com/immich-vault/immich-vault/ops"
)

// preflightNote says whether immich-vault's backup, run on the corpus at
// dir into the repository at repo, walks the corpus for its free-space
// preflight (ops.CountsChanged) before its own walk: it does when the
// used bytes of the corpus's file systems do not fit the repository's
// free space. That second walk is a property of the disks, not of the
// code (at 19:11 on 2026-12-06 it was 39 % of the B500k re-scan's CPU
// samples), so the report says which applied. "" when the free space
// cannot be read.
func preflightNote(dir, repo string) string {
	free, err := ops.FreeSpace(repo)
	if err != nil {
		return ""
	}
	walk, used := ops.CountsChanged([]string{dir}, free)
	const what = "immich-vault's free-space preflight (ops.CountsChanged)"
	if !walk {
		return fmt.Sprintf("%s did not walk the corpus: its file system's %s used fit the repository's %s free; on a disk where they do not, each backup first walks the source to count the changed files", what, humanize.IBytes(used), humanize.IBytes(free))
	}
	why := "its file system gives no used-bytes bound"
	if used > 0 {
		why = "its file system's " + humanize.IBytes(used) + " used did not fit"
	}
	return fmt.Sprintf("%s walked the corpus to count the changed files before each backup's own walk (%s; the repository's file system had %s free)", what, why, humanize.IBytes(free))
}
