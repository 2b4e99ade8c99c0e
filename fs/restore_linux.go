package fs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/data"
)

// dirOpenFlags open a directory handle for *at calls only: O_PATH needs no
// read permission and costs no more than the lookup.
const dirOpenFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// maxResolve is the longest relative path resolved in one call; longer
// ones are resolved in pieces, each below PATH_MAX (4096).
const maxResolve = unix.PathMax - 256

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// probeBeneath reports whether openat2 with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS works (Linux 5.6 and later, when no seccomp filter
// refuses it); otherwise paths are resolved one component at a time.
func probeBeneath(dirfd int) bool {
	fd, err := openBeneath(dirfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// openBeneath opens rel below dirfd in one call: the kernel refuses any
// symlink on the way and at the end (ELOOP) and any escape from dirfd.
func openBeneath(dirfd int, rel string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveFlags}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(dirfd, rel, &how)
		// EAGAIN: a concurrent rename anywhere on the system made the
		// kernel unsure the resolution stayed beneath dirfd.
		if err == unix.EINTR || err == unix.EAGAIN && tries < 100 {
			continue
		}
		return fd, err
	}
}

// futimens sets fd's access and modification times to n's mtime
// (utimensat with a NULL path: the file fd refers to).
func futimens(fd int, n *data.Node) error {
	ts := nodeTimes(n)
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// chmodNoFollow sets the mode of name in parent, refusing a symlink.
// fchmodat2 (Linux 6.6) does that in one call; before it, the entry is
// checked first, which leaves a window for a concurrent swap. It is only
// used for FIFOs, devices and sockets restore has just created (files and
// directories get their mode through their own descriptor).
func chmodNoFollow(parent int, name string, mode uint32) error {
	err := unix.Fchmodat(parent, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return unix.Fchmodat(parent, name, mode, 0)
}

// mknodAt creates the FIFO, device or socket node n as name in parent.
func mknodAt(parent int, name string, n *data.Node) error {
	if n.Type == data.NodeFifo {
		if err := unix.Mkfifoat(parent, name, unixPerm(n)); err != nil {
			return fmt.Errorf("mkfifo: %w", err)
		}
		return nil
	}
	mode := uint32(unix.S_IFBLK)
	if n.Type == data.NodeCharDev {
		mode = unix.S_IFCHR
	} else if n.Type == data.NodeSocket {
		mode = unix.S_IFSOCK
	}
	if err := unix.Mknodat(parent, name, mode|unixPerm(n), int(n.Rdev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return nil
}

// xattrsAt sets the extended attributes of name in parent (a symlink,
// FIFO, device or socket restore has just created) through an O_PATH
// descriptor of it: opened without following a symlink, never opened for
// I/O (opening a device or FIFO could block or act on the device).
func xattrsAt(parent int, name string, n *data.Node, report ExtReport) error {
	fd, err := openRetry(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open to set extended attributes: %w", err)
	}
	defer unix.Close(fd)
	return applyXAttrsPath(fd, n, report)
}

// AssumeFresh tells t that the target was empty when the restore began:
// every directory below it is created by this restore. When, besides, the
// target directory passes no group (set-group-ID) nor default ACL to what
// is created in it and the process umask is known, a new file gets the
// effective user and group as owner and exactly the mode asked for minus
// the umask, so WriteNew can create it with its final mode and skip fchown
// and fchmod (createsAs).
func (t *TargetRoot) AssumeFresh() {
	mask, ok := processUmask()
	if !ok {
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(t.FD, &st); err != nil || st.Mode&unix.S_ISGID != 0 {
		return
	}
	if _, err := unix.Fgetxattr(t.FD, "system.posix_acl_default", nil); err == nil || err != unix.ENODATA && !unsupported(err) {
		return
	}
	t.fresh, t.umask, t.euid, t.egid = true, mask, os.Geteuid(), os.Getegid()
}

// processUmask reads the umask from /proc/self/status (Linux 4.7 and
// later) without changing it (umask(2) sets it for every thread).
func processUmask() (uint32, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return uint32(m), err == nil
		}
	}
	return 0, false
}

// createsAs returns the mode to create n's file with when, in a fresh
// target, the new file gets n's final mode; owned tells whether it also
// gets n's owner (otherwise fchown follows, which leaves a mode without
// set-ID bits as it is).
func (t *TargetRoot) createsAs(n *data.Node) (perm uint32, ok, owned bool) {
	if !t.fresh {
		return 0, false, false
	}
	perm = unixPerm(n)
	if perm&^0o777 != 0 || perm&t.umask != 0 {
		return 0, false, false // set-ID and sticky bits, or bits the umask clears: chmod
	}
	return perm, true, int64(n.UID) == int64(t.euid) && int64(n.GID) == int64(t.egid)
}

// DirCreatesAs returns the mode to create the directory n with when, in
// a fresh target, the new directory is n's owner's and its mode is n's
// final one and lets its owner add entries (restore fills it afterwards);
// then only its times are left to set (SetDirTimes).
func (t *TargetRoot) DirCreatesAs(n *data.Node) (uint32, bool) {
	perm, ok, owned := t.createsAs(n)
	return perm, ok && owned && perm&0o700 == 0o700
}

// dirMetaByName sets owner (when permitted), mode and times of the
// directory name in parent by name, not following a symlink (fchmodat2,
// Linux 6.6). done is false where fchmodat2 is missing (or refused by a
// seccomp filter) or name is not what it should be (a symlink): the
// caller then goes through a descriptor, which refuses a symlink.
func dirMetaByName(parent int, name string, n *data.Node) (done bool, err error) {
	if err := unix.Fchownat(parent, name, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil && err != unix.EPERM {
		return true, fmt.Errorf("chown: %w", err)
	}
	switch err := unix.Fchmodat(parent, name, unixPerm(n), unix.AT_SYMLINK_NOFOLLOW); err {
	case nil:
	case unix.EOPNOTSUPP, unix.ENOSYS, unix.EPERM:
		return false, nil
	default:
		return true, fmt.Errorf("chmod: %w", err)
	}
	if err := unix.UtimesNanoAt(parent, name, nodeTimes(n), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return true, fmt.Errorf("set times: %w", err)
	}
	return true, nil
}
