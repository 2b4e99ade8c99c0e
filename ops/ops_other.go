//go:build !unix

package ops

import (
	"errors"
	"fmt"
)

// errNoMountCheck: this platform has no stat(2) device numbers or statfs(2).
var errNoMountCheck = errors.New("not supported on this platform")

// RequireMount cannot compare device numbers on this platform: it refuses,
// so that a configured mount check never passes silently (docs/PLATFORMS.md).
func RequireMount(dir, mountPoint string) error {
	return fmt.Errorf("%w: mount check of %s at %s: %w", ErrWrongMount, dir, mountPoint, errNoMountCheck)
}

// RequireUUID cannot map a file system UUID to a device on this platform:
// it refuses, like RequireMount.
func RequireUUID(dir, uuid, byUUID string) error {
	return fmt.Errorf("%w: UUID check of %s (%s): %w", ErrWrongMount, dir, uuid, errNoMountCheck)
}

// FreeSpace is unknown on this platform: the free-space preflight is
// skipped by callers that see ErrUnsupported.
func FreeSpace(dir string) (uint64, error) {
	return 0, fmt.Errorf("free space of %s: %w", dir, errors.ErrUnsupported)
}

// SizeKnown: file system sizes are not measured on this platform.
func SizeKnown(dir string) bool { return false }

// lockDir does not lock on this platform: concurrent writers of one metrics
// file may race (the last one wins).
func lockDir(dir string) (unlock func()) { return func() {} }
