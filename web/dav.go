package web

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/data"
)

const davPrefix = "/dav"

// davReadMethods are the only methods passed to the WebDAV handler; every
// other one (PUT, DELETE, MKCOL, COPY, MOVE, PROPPATCH, LOCK, UNLOCK, and
// POST, which x/net/webdav would treat as GET) is refused before it.
var davReadMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, "PROPFIND": true}

// davHandler serves every snapshot read-only over WebDAV under /dav/: the
// root lists one folder per snapshot (davName), each holding the
// snapshot's tree. It advertises WebDAV class 1 only (no locking), which
// makes Finder and Windows mount it read-only.
func (s *Server) davHandler() http.Handler {
	h := &webdav.Handler{
		Prefix:     davPrefix,
		FileSystem: &davFS{s: s},
		LockSystem: webdav.NewMemLS(),
		Logger: func(r *http.Request, err error) {
			if err != nil && r.Context().Err() == nil && !os.IsNotExist(err) {
				s.opts.Warn(fmt.Sprintf("webdav %s %s: %v", r.Method, r.URL.Path, err))
			}
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, _ := s.auth.identify(r)
		if kind == authNone {
			s.unauthorized(w, r, true)
			return
		}
		// Content is never active on this origin, whatever its type.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		switch {
		case r.Method == http.MethodOptions:
			w.Header().Set("Allow", "OPTIONS, GET, HEAD, PROPFIND")
			w.Header().Set("DAV", "1")
			w.Header().Set("MS-Author-Via", "DAV")
			w.WriteHeader(http.StatusOK)
		case davReadMethods[r.Method]:
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "OPTIONS, GET, HEAD, PROPFIND")
			http.Error(w, "this WebDAV share is read-only", http.StatusMethodNotAllowed)
		}
	})
}

// davName is the folder name of a snapshot at the WebDAV root: its time
// (UTC, sortable, no colons for Windows) and short ID.
func davName(sn *repo.Snapshot) string {
	return sn.Time.UTC().Format("2006-01-02T15-04-05Z") + "_" + sn.ID().Short()
}

// davFS is a read-only webdav.FileSystem over the store.
type davFS struct{ s *Server }

var errReadOnly = &fs.PathError{Op: "write", Path: "/", Err: fs.ErrPermission}

func (d *davFS) Mkdir(context.Context, string, os.FileMode) error { return errReadOnly }
func (d *davFS) RemoveAll(context.Context, string) error          { return errReadOnly }
func (d *davFS) Rename(context.Context, string, string) error     { return errReadOnly }

// resolve maps a WebDAV path to a snapshot and node (sn nil: the root).
func (d *davFS) resolve(ctx context.Context, name string) (*repo.Snapshot, *data.Node, string, error) {
	comps, err := splitPath(name)
	if err != nil {
		return nil, nil, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if len(comps) == 0 {
		return nil, nil, "", nil
	}
	i := strings.LastIndexByte(comps[0], '_')
	notExist := &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	if i < 0 {
		return nil, nil, "", notExist
	}
	sn, err := d.s.st.snapshot(ctx, comps[0][i+1:])
	if err != nil || davName(sn) != comps[0] {
		return nil, nil, "", notExist
	}
	n, err := d.s.st.node(ctx, sn, comps[1:])
	if err != nil {
		return nil, nil, "", notExist
	}
	if n.Type != data.NodeDir && n.Type != data.NodeFile {
		return nil, nil, "", notExist // symlinks, devices: nothing a WebDAV client can use
	}
	base := comps[len(comps)-1]
	return sn, n, base, nil
}

func (d *davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	sn, n, base, err := d.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	if sn == nil {
		return davRoot(), nil
	}
	return davInfo{nodeInfo{name: base, n: n}}, nil
}

func (d *davFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	sn, n, base, err := d.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	f := &davFile{d: d, ctx: ctx, sn: sn, n: n, info: davInfo{nodeInfo{name: base, n: n}}}
	if sn == nil {
		f.info = davRoot()
	}
	return f, nil
}

// davRoot is the root folder's FileInfo (dated when the server started).
func davRoot() davInfo {
	return davInfo{nodeInfo{name: "/", n: &data.Node{Type: data.NodeDir, Mode: 0o555, ModTime: started}}}
}

var started = time.Now()

// davInfo adds a content type taken from the name alone: without it,
// x/net/webdav opens every file of a listing to sniff its first bytes.
type davInfo struct{ nodeInfo }

func (i davInfo) ContentType(context.Context) (string, error) {
	if i.IsDir() {
		return "httpd/unix-directory", nil
	}
	if t := mime.TypeByExtension(path.Ext(i.Name())); t != "" {
		return t, nil
	}
	return "application/octet-stream", nil
}

// davFile is an open WebDAV file or folder. Files take the server's
// shared reader lock on their first read and give it back on Close.
type davFile struct {
	d    *davFS
	ctx  context.Context
	sn   *repo.Snapshot
	n    *data.Node
	info davInfo

	rd      *repo.FileSeeker
	release func()
	listed  bool
}

func (f *davFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *davFile) Write([]byte) (int, error)  { return 0, errReadOnly }

func (f *davFile) Close() error {
	if f.rd != nil {
		f.rd.Close()
		f.rd = nil
	}
	if f.release != nil {
		f.release()
		f.release = nil
	}
	return nil
}

func (f *davFile) reader() (*repo.FileSeeker, error) {
	if f.n == nil || f.n.Type != data.NodeFile {
		return nil, &fs.PathError{Op: "read", Path: f.info.Name(), Err: fs.ErrInvalid}
	}
	if f.rd == nil {
		ctx, release, err := f.d.s.st.lock.acquire(f.ctx)
		if err != nil {
			return nil, err
		}
		f.rd, f.release = f.d.s.st.open(ctx, f.n), release
	}
	return f.rd, nil
}

func (f *davFile) Read(p []byte) (int, error) {
	rd, err := f.reader()
	if err != nil {
		return 0, err
	}
	return rd.Read(p)
}

func (f *davFile) Seek(off int64, whence int) (int64, error) {
	rd, err := f.reader()
	if err != nil {
		return 0, err
	}
	return rd.Seek(off, whence)
}

// Readdir lists the whole folder on the first call (x/net/webdav always
// asks with count 0) and nothing after.
func (f *davFile) Readdir(count int) ([]fs.FileInfo, error) {
	if !f.info.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.info.Name(), Err: fs.ErrInvalid}
	}
	if f.listed {
		if count > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	f.listed = true
	var out []fs.FileInfo
	if f.sn == nil {
		snaps, err := f.d.s.st.snapshots(f.ctx)
		if err != nil {
			return nil, err
		}
		for _, sn := range snaps {
			out = append(out, davInfo{nodeInfo{name: davName(sn), n: rootNode(sn)}})
		}
		return out, nil
	}
	t, err := f.d.s.st.tree(f.ctx, *f.n.Subtree)
	if err != nil {
		return nil, err
	}
	err = data.EachNode(f.ctx, f.d.s.st.tree, t, func(n *data.Node) error { // a split directory part by part
		if (n.Type == data.NodeDir || n.Type == data.NodeFile) && validName(n.FileName()) {
			out = append(out, davInfo{nodeInfo{name: n.FileName(), n: n}})
		}
		return nil
	})
	return out, err
}

var _ webdav.File = (*davFile)(nil)
