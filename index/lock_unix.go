//go:build !windows && !plan9 && !js && !wasip1 && !aix

package index

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ownLock: the Cache holds the directory lock itself, with the mechanism
// Badger's own lock guard uses on this platform (an exclusive flock on the
// directory), so that processes running older versions, which rely on
// Badger's guard, still exclude each other from this one. Holding it
// outside Badger lets BulkLoad close and reopen the database (with other
// options) without a moment in which another process could take the
// directory.
const ownLock = true

// lockDir takes the exclusive lock on dir; the error wraps the flock errno
// (EWOULDBLOCK when another holder has it).
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}
