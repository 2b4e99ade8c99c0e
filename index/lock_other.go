//go:build windows || plan9 || js || wasip1 || aix

package index

import "os"

// ownLock: on these platforms Badger's lock guard is used as it is (see
// lock_unix.go); a BulkLoad reopening the database releases it briefly.
const ownLock = false

func lockDir(string) (*os.File, error) { return nil, nil }
