//go:build !unix

package fs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/immich-vault/immich-vault/repo/data"
)

// File system side of restore where there are no *at system calls
// (windows): every path is resolved through an os.Root on the target, which
// refuses to leave it (a symlink may still be followed inside the target).

// TargetDir is a directory of the target, by its path relative to it.
type TargetDir = string

type TargetRoot struct {
	root *os.Root
	path string
	// report receives extended metadata the target could not take.
	Report func(rel, kind string, err error)
}

func OpenTargetRoot(p string) (*TargetRoot, error) {
	if err := os.MkdirAll(p, 0o700); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(p)
	if err != nil {
		return nil, err
	}
	return &TargetRoot{root: r, path: p}, nil
}

func (t *TargetRoot) Close()             { t.root.Close() }
func (t *TargetRoot) RootDir() TargetDir { return "." }

func CloseDir(TargetDir) {}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func (t *TargetRoot) OpenDir(parent TargetDir, name string) (TargetDir, error) {
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

func (t *TargetRoot) ResolveDir(rel string) (TargetDir, error) {
	if rel == "." {
		return ".", nil
	}
	dir, name := path.Split(rel)
	if dir == "" {
		dir = "."
	}
	return t.OpenDir(path.Clean(dir), name)
}

func (t *TargetRoot) Lstat(parent TargetDir, name string) (EntryInfo, error) {
	fi, err := t.root.Lstat(join(parent, name))
	if err != nil {
		return EntryInfo{}, err
	}
	info := EntryInfo{Size: fi.Size()}
	switch {
	case fi.IsDir():
		info.Kind = KindDir
	case fi.Mode().IsRegular():
		info.Kind = KindFile
	case fi.Mode()&fs.ModeSymlink != 0:
		info.Kind = KindSymlink
	}
	return info, nil
}

func (t *TargetRoot) Mkdir(parent TargetDir, name string) error {
	return t.root.Mkdir(join(parent, name), 0o700)
}

func (t *TargetRoot) Remove(parent TargetDir, name string, isDir bool) error {
	if isDir {
		return t.root.RemoveAll(join(parent, name))
	}
	return t.root.Remove(join(parent, name))
}

func (t *TargetRoot) Unlink(rel string) error { return t.root.Remove(rel) }

func (t *TargetRoot) MkSpecial(parent TargetDir, name string, n *data.Node) error {
	if n.Type == data.NodeSymlink {
		return t.root.Symlink(n.Target(), join(parent, name))
	}
	return fmt.Errorf("restoring a %s node is not supported on this system", n.Type)
}

func (t *TargetRoot) CreateSized(rel string, size int64) error {
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

type OutFile struct{ f *os.File }

func (t *TargetRoot) OpenWrite(rel string) (OutFile, error) {
	f, err := t.root.OpenFile(rel, os.O_WRONLY, 0)
	return OutFile{f}, err
}

func (w OutFile) WriteAt(data []byte, off int64) error {
	_, err := w.f.WriteAt(data, off)
	return err
}

func (w OutFile) Close() { w.f.Close() }

func (t *TargetRoot) WriteNew(rel string, data []byte, n *data.Node) error {
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
	return t.SetMeta(rel, n)
}

func (t *TargetRoot) OpenRead(rel string) (*os.File, uint64, error) {
	f, err := t.root.Open(rel)
	return f, 1, err
}

func (t *TargetRoot) SetMeta(rel string, n *data.Node) error {
	if n.Type != data.NodeSymlink {
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
		if t.Report != nil {
			t.Report(rel, kind, err)
		}
	}
	reportExt(n, report, false)
	if n.Type == data.NodeDir {
		reportExt(n, report, true)
	}
	return nil
}

func (t *TargetRoot) SetFlags(rel string, n *data.Node) error {
	reportExt(n, func(kind string, err error) {
		if t.Report != nil {
			t.Report(rel, kind, err)
		}
	}, true)
	return nil
}

func (t *TargetRoot) SetMetaAt(parent TargetDir, name, _ string, n *data.Node) error {
	return t.SetMeta(join(parent, name), n)
}

// SetDirMeta sets the metadata of the directory name in parent.
func (t *TargetRoot) SetDirMeta(parent TargetDir, name, rel string, n *data.Node) error {
	return t.SetMeta(join(parent, name), n)
}

func (t *TargetRoot) DirCreatesAs(*data.Node) (uint32, bool) { return 0, false }

func (t *TargetRoot) MkdirMode(parent TargetDir, name string, _ uint32) error {
	return t.Mkdir(parent, name)
}

func (t *TargetRoot) SetDirTimes(parent TargetDir, name string, n *data.Node) error {
	return t.SetDirMeta(parent, name, join(parent, name), n)
}

// AssumeFresh: nothing to gain here.
func (t *TargetRoot) AssumeFresh() {}

func (t *TargetRoot) Link(oldRel, newRel string) error { return t.root.Link(oldRel, newRel) }
