package repo

import "time"

// SetLockModTimeForTest sets the storage modification time StaleReason
// compares (tests of the staleness rule).
func SetLockModTimeForTest(l *LockInfo, t time.Time) { l.modTime = t }
