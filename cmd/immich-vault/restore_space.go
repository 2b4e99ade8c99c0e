package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/immich-vault/immich-vault/ops"
	"github.com/immich-vault/immich-vault/restorer"
)

// restoreSpaceCheck is restore's free-space check of target (nil with
// --no-space-check, or where free space cannot be measured): asked by the
// restorer before it writes into a missing or empty target, with what the
// restore needs there; the file system holding target (or its nearest
// existing parent) must have that much free. part says how to restore a
// part instead, for the message.
func restoreSpaceCheck(target string, skip bool, part string) func(need int64) error {
	if skip {
		return nil
	}
	return func(need int64) error {
		dir := existingParent(target)
		free, err := ops.FreeSpace(dir)
		if err != nil || !ops.SizeKnown(dir) {
			// Not measurable here (or a file system that reports no size,
			// like ramfs): a restore that fills the disk stops itself.
			return nil
		}
		if need > 0 && uint64(need) > free {
			return fmt.Errorf("%w: %s has %s free, this restore needs about %s\nNothing was written. Free space there, restore onto a larger disk, %s, or pass --no-space-check to restore what fits (it stops when the disk is full)",
				restorer.ErrTargetTooSmall, dir, humanize.IBytes(free), humanize.IBytes(uint64(need)), part)
		}
		return nil
	}
}

// existingParent returns p or its nearest parent that exists.
func existingParent(p string) string {
	p = filepath.Clean(p)
	for {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return p
		}
		up := filepath.Dir(p)
		if up == p {
			return p
		}
		p = up
	}
}

// somePaths lists paths for a message: the first 20, then how many more
// (a failing disk can leave a million; --json lists them all).
func somePaths(paths []string) string {
	const shown = 20
	if len(paths) <= shown {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more (--json lists them all)", strings.Join(paths[:shown], ", "), len(paths)-shown)
}
