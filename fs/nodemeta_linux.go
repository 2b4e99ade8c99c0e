package fs

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/data"
)

// Linux: extended attributes through flistxattr/fgetxattr on an open
// descriptor, or llistxattr/lgetxattr (never following a symlink) by
// path; inode flags with the FS_IOC_GETFLAGS / FS_IOC_SETFLAGS ioctls on
// a regular file or directory opened without following a symlink.

// ReadExtMeta fills n.XAttrs and n.Flags. fd is an open descriptor of the
// entry (O_RDONLY, not O_PATH) or -1: then the attributes are read by path
// p (not following a symlink) and the flags are not read. p also names the
// entry in the returned problems (each a *SourceError-worthy warning).
func ReadExtMeta(n *data.Node, fd int, p string) []error {
	if fd < 0 && len(p) > maxResolve {
		// Too long for one call: relative to the parent directory's
		// descriptor, named through /proc/self/fd (lgetxattr does not
		// follow the last component, the entry itself).
		var errs []error
		if err := withParent(p, func(dfd int, name string) error {
			errs = ReadExtMeta(n, -1, "/proc/self/fd/"+strconv.Itoa(dfd)+"/"+name)
			return nil
		}); err != nil {
			errs = append(errs, fmt.Errorf("read extended attributes: %w", err))
		}
		return errs
	}
	var errs []error
	list := func(buf []byte) (int, error) {
		if fd >= 0 {
			return unix.Flistxattr(fd, buf)
		}
		return unix.Llistxattr(p, buf)
	}
	get := func(name string, buf []byte) (int, error) {
		if fd >= 0 {
			return unix.Fgetxattr(fd, name, buf)
		}
		return unix.Lgetxattr(p, name, buf)
	}
	names, err := xattrNames(list)
	if err != nil && !unsupported(err) {
		errs = append(errs, fmt.Errorf("list extended attributes: %w", err))
	}
	sort.Strings(names)
	total := 0
	var xs []data.XAttr
	for _, name := range names {
		if !utf8.ValidString(name) || len(name) > data.MaxXAttrName {
			errs = append(errs, fmt.Errorf("extended attribute %q not stored: its name is not valid UTF-8", name))
			continue
		}
		v, err := xattrValue(get, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since listed
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read extended attribute %s: %w", name, err))
			continue
		}
		if total+len(name)+len(v) > data.MaxNodeXAttrBytes {
			errs = append(errs, fmt.Errorf("extended attribute %s (%d bytes) not stored: a file's attributes are limited to %d bytes", name, len(v), data.MaxNodeXAttrBytes))
			continue
		}
		total += len(name) + len(v)
		xs = append(xs, data.XAttr{Name: name, Value: v})
	}
	n.XAttrs = xs
	if fd >= 0 && (n.Type == data.NodeFile || n.Type == data.NodeDir) {
		flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		switch {
		case err == nil:
			n.Flags = flags & data.StoredFlags
		case unsupported(err) || err == unix.ENOTTY || err == unix.EINVAL:
			// The file system has no flags.
		default:
			errs = append(errs, fmt.Errorf("read file flags: %w", err))
		}
	}
	return errs
}

// unsupported: the file system (or the caller's privileges) do not allow
// extended attributes of this kind.
func unsupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

func xattrNames(list func([]byte) (int, error)) ([]string, error) {
	for tries := 0; ; tries++ {
		sz, err := list(nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || sz == 0 {
			return nil, err
		}
		buf := make([]byte, sz)
		sz, err = list(buf)
		if (err == unix.ERANGE || err == unix.EINTR) && tries < 10 {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range strings.Split(string(buf[:sz]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func xattrValue(get func(string, []byte) (int, error), name string) ([]byte, error) {
	for tries := 0; ; tries++ {
		sz, err := get(name, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if sz > data.MaxXAttrValue {
			return nil, fmt.Errorf("%d bytes, more than the %d a value may have", sz, data.MaxXAttrValue)
		}
		buf := make([]byte, sz)
		if sz == 0 {
			return buf, nil
		}
		sz, err = get(name, buf)
		if (err == unix.ERANGE || err == unix.EINTR) && tries < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:sz], nil
	}
}

// ExtReport receives an attribute kind (xattrKind, or MetaKindFlags) that
// the target could not take, and why.
type ExtReport func(kind string, err error)

// refused: the target file system cannot hold the metadata, or the
// restoring user may not set it (trusted.* and security.* need privileges,
// the immutable and append-only flags CAP_LINUX_IMMUTABLE).
func refused(err error) bool {
	return unsupported(err) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ERANGE)
}

// applyXAttrs sets n's attributes on fd (a regular file or directory,
// opened O_RDONLY). It runs after chown and chmod (chmod rewrites an
// ACL's mask; chown clears security.capability).
func applyXAttrs(fd int, n *data.Node, report ExtReport) error {
	return setXAttrs(n, report, func(name string, v []byte) error {
		return unix.Fsetxattr(fd, name, v, 0)
	})
}

// applyXAttrsPath sets n's attributes on the entry an O_PATH descriptor
// refers to (a symlink, FIFO, device or socket, which restore does not
// open): through /proc/self/fd/N, which names exactly that inode (the
// kernel resolves the magic link to it without following a symlink).
func applyXAttrsPath(pathFD int, n *data.Node, report ExtReport) error {
	p := "/proc/self/fd/" + strconv.Itoa(pathFD)
	return setXAttrs(n, report, func(name string, v []byte) error {
		return unix.Setxattr(p, name, v, 0)
	})
}

func setXAttrs(n *data.Node, report ExtReport, set func(string, []byte) error) error {
	var first error
	for _, x := range n.XAttrs {
		var err error
		for {
			if err = set(x.Name, x.Value); err != unix.EINTR {
				break
			}
		}
		switch {
		case err == nil:
		case refused(err) || errors.Is(err, unix.ENOSPC):
			// ENOSPC from setxattr(2) is also "this attribute does not
			// fit" (ext4 without ea_inode: all of a file's attributes
			// share one block), not only a full disk: a restore must not
			// stop as if the target were full (restorer.ErrTargetFull);
			// on a disk that really is full the next write stops it.
			report(data.XAttrKind(x.Name), err)
		case first == nil:
			first = fmt.Errorf("set extended attribute %s: %w", x.Name, err)
		}
	}
	return first
}

// applyFlags sets n's inode flags on fd (a regular file or directory
// opened O_RDONLY), keeping the flags restore does not manage. It runs
// last: an immutable or append-only file refuses every later change.
func applyFlags(fd int, n *data.Node, report ExtReport) error {
	want := n.Flags & data.StoredFlags
	if want == 0 {
		return nil
	}
	cur, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(cur&^data.StoredFlags|want))
		if flagRefused(err) {
			// One flag the file system lacks (nocow on ext4, say)
			// must not cost the others: one at a time, the
			// immutable and append-only flags last.
			err = nil
			set := cur &^ data.StoredFlags
			for _, bit := range flagOrder {
				if want&bit == 0 {
					continue
				}
				if e := unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(set|bit)); e == nil {
					set |= bit
				} else if flagRefused(e) {
					report(data.MetaKindFlags, e)
				} else if err == nil {
					err = e
				}
			}
			if err == nil {
				return nil
			}
		}
	}
	switch {
	case err == nil:
		return nil
	case flagRefused(err):
		report(data.MetaKindFlags, err)
		return nil
	}
	return fmt.Errorf("set file flags: %w", err)
}

// flagOrder: the stored flags, immutable and append-only last.
var flagOrder = [...]uint32{data.FlagSync, data.FlagNoDump, data.FlagNoAtime, data.FlagDirSync, data.FlagTopDir, data.FlagNoCOW, data.FlagProjInherit, data.FlagAppend, data.FlagImmutable}

func flagRefused(err error) bool {
	return err != nil && (refused(err) || err == unix.ENOTTY || err == unix.EINVAL)
}

// OpenForMeta opens the regular file p (already lstat'ed as n) to read
// its attributes and flags: without following a symlink, without blocking
// (a FIFO swapped in meanwhile), without updating its access time where
// permitted; a file that is no longer n's inode is refused.
func OpenForMeta(p string, n *data.Node) (int, error) {
	const flags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	fd, err := openLong(p, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = openLong(p, flags, 0)
	}
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != n.Inode {
		unix.Close(fd)
		return -1, unix.ESTALE
	}
	return fd, nil
}

func CloseFD(fd int) { unix.Close(fd) }
