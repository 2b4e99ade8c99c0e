package restorer

import "github.com/immich-vault/immich-vault/repo"

// SetRangeTesting sets maxRangeSpan and testHookRange for one test and
// returns the function restoring them.
func SetRangeTesting(span int64, hook func(packID repo.ID, first, last int64) func()) func() {
	oldSpan, oldHook := maxRangeSpan, testHookRange
	maxRangeSpan, testHookRange = span, hook
	return func() { maxRangeSpan, testHookRange = oldSpan, oldHook }
}

// SetBatchFiles sets restoreBatchFiles for one test.
func SetBatchFiles(n int) func() {
	old := restoreBatchFiles
	restoreBatchFiles = n
	return func() { restoreBatchFiles = old }
}
