package main

import (
	"encoding/json"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/immich-vault/immich-vault/repo"
)

// printBackupDryRun reports what `backup --dry-run` found: what a backup
// would add (restic's "Would add to the repository"); with --json the
// summary line of a backup with "dry_run": true and no snapshot_id.
func printBackupDryRun(sn *repo.Snapshot, start time.Time) error {
	s := sn.Summary
	if gopts.json {
		b, err := json.Marshal(backupSummaryJSON{
			MessageType: "summary", FilesNew: s.FilesNew, FilesChanged: s.FilesChanged,
			FilesUnmodified: s.FilesUnmodified, Dirs: s.Dirs, BytesProcessed: s.BytesProcessed,
			BytesRead: s.BytesRead, DataBlobs: s.DataBlobs, DataAdded: s.DataAdded,
			DataAddedPacked: s.DataAddedPacked, Errors: s.Errors, Partial: sn.Partial,
			DurationSeconds: time.Since(start).Seconds(),
		})
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		delete(m, "snapshot_id") // nothing was saved
		m["dry_run"] = true
		if err := printJSONLine(m); err != nil {
			return err
		}
	} else {
		gopts.printf("Files: %d new, %d changed, %d unmodified; %d dirs\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified, s.Dirs)
		gopts.printf("Would add to the repository: %s (%s stored) in %d blobs\n", humanize.IBytes(uint64(s.DataAdded)), humanize.IBytes(uint64(s.DataAddedPacked)), s.DataBlobs)
		gopts.printf("Processed %s (%s read) in %s\n", humanize.IBytes(uint64(s.BytesProcessed)), humanize.IBytes(uint64(s.BytesRead)), time.Since(start).Round(time.Millisecond))
		gopts.printf("dry run: nothing was stored, no snapshot was written\n")
	}
	if sn.Partial {
		gopts.warnf("%d file(s) or folder(s) could not be read; a backup would be marked partial. Fix the permissions before the real run.", s.Errors)
		return &exitError{code: exitPartial}
	}
	return nil
}
