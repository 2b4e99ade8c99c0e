//go:build !linux

package ops

// SourceBound gives no bound on this platform (no mount table read here):
// the free-space preflight walks the sources (ChangedBytes).
func SourceBound(roots []string) (bound uint64, ok bool) { return 0, false }
