package fs

import (
	"os"
	"time"
)

// ChangedSince reports whether the file fi describes may have changed at or
// after since: its modification time or its status change time (ctime) is
// not before since. Immich sets every uploaded original to the client's
// file modification time, often years old, so the modification time alone
// misses new uploads; the kernel sets the ctime to its own clock on every
// create, write, rename and utimes. The rule and its reasons are
// ops.ChangedSince's (ops, which imports nothing of the engine, has its
// own copy); the two must agree. Without a ctime (Windows) only the
// modification time counts.
func ChangedSince(fi os.FileInfo, since time.Time) bool {
	if !fi.ModTime().Before(since) {
		return true
	}
	st, ok := SysStatOf(fi)
	return ok && !st.Ctime.Before(since)
}
