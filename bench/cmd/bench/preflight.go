package main

import (
	"fmt"

	"github.com/dustin/go-humanize"

	"github.com/immich-vault/immich-vault/ops"
)

// preflightNote says whether immich-vault's backup, run on the corpus at
// dir into the repository at repo, checks the free space against the
// changed files (ops.CountsChanged): it does when the used bytes of the
// corpus's file systems do not fit the repository's free space. The count
// comes from the backup's walk ahead (archiver/spacegate.go), which then
// runs to its end before the first pack is written; before 2026-12-07 it
// was a walk of its own before the backup's (at 19:11 on 2026-12-06, 39 %
// of the B500k re-scan's CPU samples). That is a property of the disks,
// not of the code, so the report says which applied. "" when the free
// space cannot be read.
func preflightNote(dir, repo string) string {
	free, err := ops.FreeSpace(repo)
	if err != nil {
		return ""
	}
	walk, used := ops.CountsChanged([]string{dir}, free)
	const what = "immich-vault's free-space check (ops.CountsChanged)"
	if !walk {
		return fmt.Sprintf("%s was not needed: the corpus's file system's %s used fit the repository's %s free; on a disk where they do not, the backup's walk ahead counts the changed files and runs to its end before the first pack is written", what, humanize.IBytes(used), humanize.IBytes(free))
	}
	why := "its file system gives no used-bytes bound"
	if used > 0 {
		why = "its file system's " + humanize.IBytes(used) + " used did not fit"
	}
	return fmt.Sprintf("%s counted the changed files in the backup's walk ahead, which ran to its end before the first pack was written (%s; the repository's file system had %s free)", what, why, humanize.IBytes(free))
}
