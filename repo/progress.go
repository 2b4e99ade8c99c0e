package repo

import "sync/atomic"

// Progress counters, updated atomically during a backup or restore.
type Progress struct {
	Files  atomic.Int64
	Dirs   atomic.Int64
	Bytes  atomic.Int64 // bytes of files processed (read or recognised unchanged)
	Read   atomic.Int64 // bytes actually read
	Errors atomic.Int64
}
