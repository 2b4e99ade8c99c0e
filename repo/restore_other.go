//go:build !unix

package repo

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"
)

// File system side of restore where there are no *at system calls
// (windows): every path is resolved through an os.Root on the target, which
// refuses to leave it (a symlink may still be followed inside the target).

// tdir is a directory of the target, by its path relative to it.
type tdir = string

type targetRoot struct {
	root *os.Root
	path string
	// report receives extended metadata the target could not take.
	report func(rel, kind string, err error)
}

func openTargetRoot(p string) (*targetRoot, error) {
	if err := os.MkdirAll(p, 0o700); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(p)
	if err != nil {
		return nil, err
	}
	return &targetRoot{root: r, path: p}, nil
}

func (t *targetRoot) close()        { t.root.Close() }
func (t *targetRoot) rootDir() tdir { return "." }

func closeDir(tdir) {}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func (t *targetRoot) openDir(parent tdir, name string) (tdir, error) {
	rel := join(parent, name)
	fi, err := t.root.Lstat(rel)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("open directory %s: not a directory", rel)
	}
	return rel, nil
}

func (t *targetRoot) resolveDir(rel string) (tdir, error) {
	if rel == "." {
		return ".", nil
	}
	dir, name := path.Split(rel)
	if dir == "" {
		dir = "."
	}
	return t.openDir(path.Clean(dir), name)
}

func (t *targetRoot) lstat(parent tdir, name string) (entryInfo, error) {
	fi, err := t.root.Lstat(join(parent, name))
	if err != nil {
		return entryInfo{}, err
	}
	info := entryInfo{size: fi.Size()}
	switch {
	case fi.IsDir():
		info.kind = kindDir
	case fi.Mode().IsRegular():
		info.kind = kindFile
	case fi.Mode()&fs.ModeSymlink != 0:
		info.kind = kindSymlink
	}
	return info, nil
}

func (t *targetRoot) mkdir(parent tdir, name string) error {
	return t.root.Mkdir(join(parent, name), 0o700)
}

func (t *targetRoot) remove(parent tdir, name string, isDir bool) error {
	if isDir {
		return t.root.RemoveAll(join(parent, name))
	}
	return t.root.Remove(join(parent, name))
}

func (t *targetRoot) unlink(rel string) error { return t.root.Remove(rel) }

func (t *targetRoot) mkSpecial(parent tdir, name string, n *Node) error {
	if n.Type == NodeSymlink {
		return t.root.Symlink(n.Target(), join(parent, name))
	}
	return fmt.Errorf("restoring a %s node is not supported on this system", n.Type)
}

func (t *targetRoot) createSized(rel string, size int64) error {
	f, err := t.root.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type wfile struct{ f *os.File }

func (t *targetRoot) openWrite(rel string) (wfile, error) {
	f, err := t.root.OpenFile(rel, os.O_WRONLY, 0)
	return wfile{f}, err
}

func (w wfile) writeAt(data []byte, off int64) error {
	_, err := w.f.WriteAt(data, off)
	return err
}

func (w wfile) close() { w.f.Close() }

func (t *targetRoot) writeNew(rel string, data []byte, n *Node) error {
	f, err := t.root.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return t.setMeta(rel, n)
}

func (t *targetRoot) openRead(rel string) (*os.File, uint64, error) {
	f, err := t.root.Open(rel)
	return f, 1, err
}

func (t *targetRoot) setMeta(rel string, n *Node) error {
	if n.Type != NodeSymlink {
		if err := t.root.Chmod(rel, n.FileMode().Perm()); err != nil {
			return err
		}
		if err := t.root.Chtimes(rel, time.Time{}, n.ModTime); err != nil {
			return err
		}
	}
	// Ownership is restored where the system has it and permits it.
	t.root.Lchown(rel, int(n.UID), int(n.GID))
	// Extended attributes and flags: not here (reported as not restored).
	report := func(kind string, err error) {
		if t.report != nil {
			t.report(rel, kind, err)
		}
	}
	reportExt(n, report, false)
	if n.Type == NodeDir {
		reportExt(n, report, true)
	}
	return nil
}

func (t *targetRoot) setFlags(rel string, n *Node) error {
	reportExt(n, func(kind string, err error) {
		if t.report != nil {
			t.report(rel, kind, err)
		}
	}, true)
	return nil
}

func (t *targetRoot) setMetaAt(parent tdir, name, _ string, n *Node) error {
	return t.setMeta(join(parent, name), n)
}

func (t *targetRoot) link(oldRel, newRel string) error { return t.root.Link(oldRel, newRel) }
