//go:build !linux

package ops

// SourceBound gives no bound on this platform (no mount table read here):
// the free-space check counts the changed files (the backup's walk ahead,
// or ChangedBytes for immich backup).
func SourceBound(roots []string) (bound uint64, ok bool) { return 0, false }
