package web

import (
	"archive/tar"
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

// archiveWriter streams a folder as tar or zip.
type archiveWriter interface {
	// add writes one entry; content is the file's data for regular files.
	add(name string, n *data.Node, content io.Reader) error
	Close() error
}

func newArchiveWriter(format string, w io.Writer) archiveWriter {
	if format == "zip" {
		return &zipArchive{zw: zip.NewWriter(w)}
	}
	return &tarArchive{tw: tar.NewWriter(w)}
}

// writeArchive writes dir (named name in the archive) and everything below
// it, depth first in tree order. Entries are named from tree node names,
// each checked with validName, so no entry can climb out of the folder it
// is extracted into. Devices, FIFOs and sockets are left out; a hard link
// is written as a regular file.
func (s *Server) writeArchive(ctx context.Context, aw archiveWriter, name string, dir *data.Node) error {
	if err := aw.add(name, dir, nil); err != nil {
		return err
	}
	t, err := s.st.tree(ctx, *dir.Subtree)
	if err != nil {
		return err
	}
	return data.EachNode(ctx, s.st.tree, t, func(n *data.Node) error { // a split directory part by part
		if err := ctx.Err(); err != nil {
			return err
		}
		base := n.FileName()
		if !validName(base) {
			s.opts.Warn(fmt.Sprintf("archive: entry %q in %s has a name that cannot be extracted safely: left out", base, name))
			return nil
		}
		child := name + "/" + base
		switch n.Type {
		case data.NodeDir:
			if n.Subtree == nil {
				return fmt.Errorf("%s: directory without a tree: %w", child, repo.ErrCorrupt)
			}
			if err := s.writeArchive(ctx, aw, child, n); err != nil {
				return err
			}
		case data.NodeFile:
			rd := s.st.open(ctx, n)
			err := aw.add(child, n, rd)
			rd.Close()
			if err != nil {
				return err
			}
		case data.NodeSymlink:
			if err := aw.add(child, n, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// nodeInfo is a repo.Node as an fs.FileInfo (archive headers, WebDAV).
type nodeInfo struct {
	name string
	n    *data.Node
}

func (i nodeInfo) Name() string { return i.name }
func (i nodeInfo) Size() int64 {
	if i.n.Type == data.NodeFile {
		return int64(i.n.Size)
	}
	return 0
}
func (i nodeInfo) Mode() fs.FileMode  { return i.n.FileMode() }
func (i nodeInfo) ModTime() time.Time { return i.n.ModTime }
func (i nodeInfo) IsDir() bool        { return i.n.Type == data.NodeDir }
func (i nodeInfo) Sys() any           { return nil }

type tarArchive struct{ tw *tar.Writer }

func (a *tarArchive) add(name string, n *data.Node, content io.Reader) error {
	h, err := tar.FileInfoHeader(nodeInfo{name: name, n: n}, n.Target())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	h.Name = name
	if n.Type == data.NodeDir {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = int(n.UID), int(n.GID), n.User, n.Group
	if err := a.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if content != nil {
		if _, err := io.Copy(a.tw, content); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (a *tarArchive) Close() error { return a.tw.Close() }

type zipArchive struct{ zw *zip.Writer }

func (a *zipArchive) add(name string, n *data.Node, content io.Reader) error {
	h := &zip.FileHeader{Name: name, Method: zip.Store, Modified: n.ModTime} // photos and videos do not compress
	h.SetMode(n.FileMode())
	switch n.Type {
	case data.NodeDir:
		h.Name += "/"
		h.SetMode(n.FileMode() | os.ModeDir)
	}
	w, err := a.zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case content != nil:
		if _, err := io.Copy(w, content); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	case n.Type == data.NodeSymlink:
		if _, err := io.WriteString(w, n.Target()); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (a *zipArchive) Close() error { return a.zw.Close() }
