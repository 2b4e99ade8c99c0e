//go:build windows || plan9 || js || wasip1 || aix

package immich

import "os"

// tryLock: these platforms have no flock here; the journal is then not
// protected against two concurrent runs (documented in docs/IMMICH.md).
func tryLock(*os.File) (busy bool, err error) { return false, nil }
