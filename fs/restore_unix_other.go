//go:build unix && !linux

package fs

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/data"
)

// dirOpenFlags open a directory handle for *at calls.
const dirOpenFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// maxResolve: paths are resolved one component at a time here, so no
// length limit applies; pieces keep each call's work bounded.
const maxResolve = 768

// probeBeneath: no openat2 outside Linux.
func probeBeneath(int) bool { return false }

func openBeneath(int, string, int, uint32) (int, error) { return -1, unix.ENOSYS }

// futimens sets fd's times to n's mtime (microseconds: x/sys has no
// futimens for every BSD).
func futimens(fd int, n *data.Node) error {
	tv := unix.NsecToTimeval(n.ModTime.Truncate(time.Microsecond).UnixNano())
	return unix.Futimes(fd, []unix.Timeval{tv, tv})
}

// chmodNoFollow sets the mode of name in parent, refusing a symlink.
func chmodNoFollow(parent int, name string, mode uint32) error {
	return unix.Fchmodat(parent, name, mode, unix.AT_SYMLINK_NOFOLLOW)
}

// mknodAt: FIFOs, devices and sockets are restored on Linux only.
func mknodAt(parent int, name string, n *data.Node) error {
	return fmt.Errorf("restoring a %s node is supported on Linux only", n.Type)
}

// xattrsAt: extended attributes are restored on Linux only.
func xattrsAt(_ int, _ string, n *data.Node, report ExtReport) error {
	return applyXAttrsPath(-1, n, report)
}

// AssumeFresh: a new file's group is its directory's on the BSDs and
// darwin, so owner and mode are always set explicitly here.
func (t *TargetRoot) AssumeFresh() {}

func (t *TargetRoot) createsAs(*data.Node) (uint32, bool, bool) { return 0, false, false }

func (t *TargetRoot) DirCreatesAs(*data.Node) (uint32, bool) { return 0, false }

// dirMetaByName: through a descriptor (SetDirMeta).
func dirMetaByName(int, string, *data.Node) (bool, error) { return false, nil }
