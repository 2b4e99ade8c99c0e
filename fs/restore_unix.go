//go:build unix

package fs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/data"
)

// File system side of restore on unix: every path below the target is
// resolved from the target's directory descriptor (opened once) with *at
// system calls, never following a symlink: a directory handle is opened
// with O_NOFOLLOW|O_DIRECTORY, files with O_NOFOLLOW, metadata is set
// through the file's own descriptor or with AT_SYMLINK_NOFOLLOW. On Linux a
// path relative to the target is resolved in one openat2 call with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (restore_linux.go); elsewhere, and on
// kernels without openat2, one component at a time. Paths longer than
// PATH_MAX are resolved in pieces.

// TargetDir is an open directory of the target.
type TargetDir = int

// TargetRoot is the restore target, opened once.
type TargetRoot struct {
	FD   int
	path string
	// beneath: openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS works here.
	beneath bool
	// report receives extended metadata (an attribute kind or file flags)
	// that the target could not take at rel; nil: ignored.
	Report func(rel, kind string, err error)
	// fresh (set by AssumeFresh, Linux only): every directory below the
	// target is created by this restore and the owner and mode of a new
	// file are predictable (see createsAs): a new file is created with its
	// final permissions and needs neither fchown nor fchmod.
	fresh      bool
	umask      uint32
	euid, egid int
}

func OpenTargetRoot(p string) (*TargetRoot, error) {
	if err := os.MkdirAll(p, 0o700); err != nil {
		return nil, err
	}
	fd, err := openRetry(unix.AT_FDCWD, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &pathError{"open", p, err}
	}
	t := &TargetRoot{FD: fd, path: p}
	t.beneath = probeBeneath(fd)
	return t, nil
}

func (t *TargetRoot) Close()             { unix.Close(t.FD) }
func (t *TargetRoot) RootDir() TargetDir { return t.FD }

func CloseDir(d TargetDir) { unix.Close(d) }

// openRetry is openat retried on EINTR.
func openRetry(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// explain makes "a symlink was refused" readable: O_NOFOLLOW and
// RESOLVE_NO_SYMLINKS report it as ELOOP ("too many levels of symbolic
// links"), and O_DIRECTORY|O_NOFOLLOW on a symlink as ENOTDIR.
func explain(err error) error {
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("%w (a symbolic link is in the way: restore never follows one inside its target)", err)
	}
	return err
}

// OpenDir opens directory name in parent without following a symlink.
func (t *TargetRoot) OpenDir(parent TargetDir, name string) (TargetDir, error) {
	fd, err := openRetry(parent, name, dirOpenFlags, 0)
	if err != nil {
		return -1, fmt.Errorf("open directory: %w", explain(err))
	}
	return fd, nil
}

// open opens rel (relative to the target) with flags, following no symlink
// on the way nor at the end. A rel longer than maxResolve is resolved in
// pieces, each below PATH_MAX.
func (t *TargetRoot) open(rel string, flags int, mode uint32) (int, error) {
	dfd, owned := t.FD, false
	defer func() {
		if owned {
			unix.Close(dfd)
		}
	}()
	for len(rel) > maxResolve {
		i := strings.LastIndexByte(rel[:maxResolve], '/')
		if i <= 0 {
			return -1, unix.ENAMETOOLONG
		}
		nfd, err := t.openat(dfd, rel[:i], dirOpenFlags, 0)
		if err != nil {
			return -1, err
		}
		if owned {
			unix.Close(dfd)
		}
		dfd, owned, rel = nfd, true, rel[i+1:]
	}
	return t.openat(dfd, rel, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
}

// openat resolves rel (below PATH_MAX) beneath dfd without symlinks.
func (t *TargetRoot) openat(dfd int, rel string, flags int, mode uint32) (int, error) {
	if t.beneath {
		return openBeneath(dfd, rel, flags, mode)
	}
	dir, last := path.Split(rel)
	owned := false
	for _, c := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
		if c == "" {
			continue
		}
		nfd, err := openRetry(dfd, c, dirOpenFlags, 0)
		if owned {
			unix.Close(dfd)
		}
		if err != nil {
			return -1, err
		}
		dfd, owned = nfd, true
	}
	fd, err := openRetry(dfd, last, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if owned {
		unix.Close(dfd)
	}
	return fd, err
}

// resolveDir opens the directory rel ("." for the target).
func (t *TargetRoot) ResolveDir(rel string) (TargetDir, error) {
	fd, err := t.open(rel, dirOpenFlags, 0)
	if err != nil {
		return -1, fmt.Errorf("open directory: %w", explain(err))
	}
	return fd, nil
}

// parentOf opens the directory holding rel and returns it with rel's name.
func (t *TargetRoot) parentOf(rel string) (TargetDir, string, error) {
	dir, name := path.Split(rel)
	if dir == "" {
		dir = "."
	}
	fd, err := t.ResolveDir(strings.TrimSuffix(dir, "/"))
	return fd, name, err
}

// lstat describes name in parent (not following a symlink); a missing
// entry is an error wrapping os.ErrNotExist.
func (t *TargetRoot) Lstat(parent TargetDir, name string) (EntryInfo, error) {
	return lstatAt(parent, name)
}

func lstatAt(parent int, name string) (EntryInfo, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return EntryInfo{}, fmt.Errorf("lstat: %w", err)
		}
		break
	}
	info := EntryInfo{Size: st.Size}
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFDIR:
		info.Kind = KindDir
	case unix.S_IFREG:
		info.Kind = KindFile
	case unix.S_IFLNK:
		info.Kind = KindSymlink
	}
	return info, nil
}

func (t *TargetRoot) Mkdir(parent TargetDir, name string) error {
	return t.MkdirMode(parent, name, 0o700)
}

// MkdirMode creates directory name in parent with mode perm (less the umask).
func (t *TargetRoot) MkdirMode(parent TargetDir, name string, perm uint32) error {
	if err := unix.Mkdirat(parent, name, perm); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	return nil
}

// SetDirTimes sets the times of the directory name in parent, not
// following a symlink: all that is left to do for a directory created
// with its final owner and mode (DirCreatesAs) and without extended
// attributes or flags.
func (t *TargetRoot) SetDirTimes(parent TargetDir, name string, n *data.Node) error {
	if err := unix.UtimesNanoAt(parent, name, nodeTimes(n), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// remove removes name from parent without following it; a directory
// (isDir) is removed with everything in it.
func (t *TargetRoot) Remove(parent TargetDir, name string, isDir bool) error {
	if err := removeAt(parent, name, isDir); err != nil {
		return fmt.Errorf("remove the existing entry: %w", err)
	}
	return nil
}

func removeAt(parent int, name string, isDir bool) error {
	if !isDir {
		err := unix.Unlinkat(parent, name, 0)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EISDIR && err != unix.EPERM {
			return err
		}
		if info, serr := lstatAt(parent, name); serr != nil || info.Kind != KindDir {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		fd, err := openRetry(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		d := os.NewFile(uintptr(fd), name)
		names, err := d.Readdirnames(-1)
		if err != nil {
			d.Close()
			return err
		}
		for _, n := range names {
			// The entry's type is unknown here: unlink first.
			if err := removeAt(fd, n, false); err != nil {
				d.Close()
				return err
			}
		}
		d.Close()
		err = unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.ENOTEMPTY && err != unix.EEXIST || attempt >= 3 {
			return err
		}
	}
}

// unlink removes the non-directory rel.
func (t *TargetRoot) Unlink(rel string) error {
	pfd, name, err := t.parentOf(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Unlinkat(pfd, name, 0); err != nil {
		if err == unix.ENOENT {
			return os.ErrNotExist
		}
		return fmt.Errorf("remove the existing file: %w", err)
	}
	return nil
}

// mkSpecial creates a symlink, FIFO, device or socket node n as name in parent.
func (t *TargetRoot) MkSpecial(parent TargetDir, name string, n *data.Node) error {
	switch n.Type {
	case data.NodeSymlink:
		if err := unix.Symlinkat(n.Target(), parent, name); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return nil
	case data.NodeFifo, data.NodeDev, data.NodeCharDev, data.NodeSocket:
		return mknodAt(parent, name, n)
	}
	return fmt.Errorf("unknown node type %q", n.Type)
}

// createSized creates (or truncates) rel with the given size, leaving holes.
func (t *TargetRoot) CreateSized(rel string, size int64) error {
	fd, err := t.open(rel, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", explain(err))
	}
	if size > 0 {
		err = unix.Ftruncate(fd, size)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	return nil
}

// OutFile is a file open for writing its blobs.
type OutFile int

func (t *TargetRoot) OpenWrite(rel string) (OutFile, error) {
	fd, err := t.open(rel, unix.O_WRONLY, 0)
	if err != nil {
		return -1, fmt.Errorf("open: %w", explain(err))
	}
	return OutFile(fd), nil
}

func (w OutFile) WriteAt(data []byte, off int64) error { return pwriteAll(int(w), data, off) }
func (w OutFile) Close()                               { unix.Close(int(w)) }

func pwriteAll(fd int, data []byte, off int64) error {
	for len(data) > 0 {
		n, err := unix.Pwrite(fd, data, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

// writeNew creates rel holding data and sets its metadata, all through
// the one descriptor. In a fresh target (AssumeFresh) a file whose
// permissions the kernel gives it on creation (createsAs) is created
// exclusively with its final mode: four system calls (open, write, set
// times, close) instead of six, five when it needs fchown.
func (t *TargetRoot) WriteNew(rel string, data []byte, n *data.Node) error {
	var fd int
	var err error
	owned := false
	perm, ok, chowned := t.createsAs(n)
	if ok {
		fd, err = t.open(rel, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, perm)
		owned = err == nil
		if err == unix.EEXIST {
			// Not ours (a duplicate name in a damaged tree, or a
			// concurrent writer): replaced below, with every change.
			err = nil
		}
	}
	if !owned && err == nil {
		fd, err = t.open(rel, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o600)
	}
	if err != nil {
		return fmt.Errorf("create: %w", explain(err))
	}
	if IsZero(data) {
		err = unix.Ftruncate(fd, int64(len(data)))
	} else {
		err = pwriteAll(fd, data, 0)
	}
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("write: %w", err)
	}
	if owned {
		err = t.fdTimesXattrs(fd, rel, n, !chowned)
	} else {
		err = t.fdMeta(fd, rel, n)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("write: %w", cerr)
	}
	return err
}

// openRead opens the existing regular file rel for reading and returns its
// link count.
func (t *TargetRoot) OpenRead(rel string) (*os.File, uint64, error) {
	fd, err := t.open(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, 0, err
	}
	return os.NewFile(uintptr(fd), rel), uint64(st.Nlink), nil
}

// setMeta sets owner (when permitted), mode and times of the directory or
// regular file rel, through its own descriptor.
func (t *TargetRoot) SetMeta(rel string, n *data.Node) error {
	fd, err := t.open(rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err == unix.EACCES {
		// Not readable (an existing file as non-root): by name.
		pfd, name, perr := t.parentOf(rel)
		if perr != nil {
			return perr
		}
		defer unix.Close(pfd)
		return t.SetMetaAt(pfd, name, rel, n)
	}
	if err != nil {
		return fmt.Errorf("open to set metadata: %w", explain(err))
	}
	defer unix.Close(fd)
	return t.fdMeta(fd, rel, n)
}

// reporter returns the ExtReport for the entry rel.
func (t *TargetRoot) reporter(rel string) ExtReport {
	return func(kind string, err error) {
		if t.Report != nil {
			t.Report(rel, kind, err)
		}
	}
}

// fdMeta sets owner (when permitted), mode, extended attributes (ACLs
// after chmod, which rewrites an ACL's mask) and times through fd, and
// last the flags of a directory (a file's flags are set by setFlags once
// every hard link to it exists: an immutable file refuses new links).
func (t *TargetRoot) fdMeta(fd int, rel string, n *data.Node) error {
	if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil && err != unix.EPERM {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, unixPerm(n)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	xerr := applyXAttrs(fd, n, t.reporter(rel))
	if err := futimens(fd, n); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	if xerr != nil {
		return xerr
	}
	if n.Type == data.NodeDir {
		return applyFlags(fd, n, t.reporter(rel))
	}
	return nil
}

// fdTimesXattrs is fdMeta for a file created with its final mode
// (createsAs): owner (if chown), extended attributes and times.
func (t *TargetRoot) fdTimesXattrs(fd int, rel string, n *data.Node, chown bool) error {
	if chown {
		if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil && err != unix.EPERM {
			return fmt.Errorf("chown: %w", err)
		}
	}
	var xerr error
	if len(n.XAttrs) > 0 {
		xerr = applyXAttrs(fd, n, t.reporter(rel))
	}
	if err := futimens(fd, n); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return xerr
}

// SetDirMeta sets the metadata of the directory name in parent (rel in
// the target), as SetMeta does, never following a symlink. Without
// extended attributes or flags, and where the kernel can change a mode
// without following a symlink (fchmodat2), it is done by name: three
// system calls instead of an open, three and a close; the parent handle
// is shared by the siblings (restorer's directory pass).
func (t *TargetRoot) SetDirMeta(parent TargetDir, name, rel string, n *data.Node) error {
	if len(n.XAttrs) == 0 && n.Flags&data.StoredFlags == 0 {
		if done, err := dirMetaByName(parent, name, n); done {
			return err
		}
	}
	fd, err := openRetry(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err == unix.EACCES {
		return t.SetMetaAt(parent, name, rel, n)
	}
	if err != nil {
		return fmt.Errorf("open to set metadata: %w", explain(err))
	}
	defer unix.Close(fd)
	return t.fdMeta(fd, rel, n)
}

// setFlags sets the inode flags of the regular file rel (the last change
// restore makes to it).
func (t *TargetRoot) SetFlags(rel string, n *data.Node) error {
	fd, err := t.open(rel, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open to set file flags: %w", explain(err))
	}
	defer unix.Close(fd)
	return applyFlags(fd, n, t.reporter(rel))
}

// setMetaAt sets owner (when permitted), mode (not of a symlink) and times
// of name in parent, not following a symlink.
func (t *TargetRoot) SetMetaAt(parent TargetDir, name, rel string, n *data.Node) error {
	if err := unix.Fchownat(parent, name, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil && err != unix.EPERM {
		return fmt.Errorf("chown: %w", err)
	}
	if n.Type != data.NodeSymlink {
		if err := chmodNoFollow(parent, name, unixPerm(n)); err != nil {
			return fmt.Errorf("chmod: %w", explain(err))
		}
	}
	var xerr error
	if len(n.XAttrs) > 0 {
		xerr = xattrsAt(parent, name, n, t.reporter(rel))
	}
	if err := unix.UtimesNanoAt(parent, name, nodeTimes(n), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return xerr
}

func nodeTimes(n *data.Node) []unix.Timespec {
	mt := unix.NsecToTimespec(n.ModTime.UnixNano())
	return []unix.Timespec{mt, mt}
}

// link creates newRel as a hard link to oldRel (neither followed if a symlink).
func (t *TargetRoot) Link(oldRel, newRel string) error {
	ofd, oname, err := t.parentOf(oldRel)
	if err != nil {
		return err
	}
	defer unix.Close(ofd)
	nfd, nname, err := t.parentOf(newRel)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	if err := unix.Linkat(ofd, oname, nfd, nname, 0); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	return nil
}

// unixPerm converts the node's Go mode bits to unix permission bits.
func unixPerm(n *data.Node) uint32 {
	m := n.FileMode()
	p := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		p |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		p |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		p |= unix.S_ISVTX
	}
	return p
}
