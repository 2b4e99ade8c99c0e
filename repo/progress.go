package repo

import "sync/atomic"

// Progress counters, updated atomically during a backup or restore.
type Progress struct {
	Files  atomic.Int64
	Dirs   atomic.Int64
	Bytes  atomic.Int64 // bytes of files processed (read or recognised unchanged)
	Read   atomic.Int64 // bytes actually read
	Errors atomic.Int64
	// TotalFiles and TotalBytes count the regular files a backup's walk
	// ahead found (archiver: not excluded, streams not included) and their
	// sizes while it runs; TotalKnown is set once it finished.
	TotalFiles, TotalBytes atomic.Int64
	TotalKnown             atomic.Bool
}
