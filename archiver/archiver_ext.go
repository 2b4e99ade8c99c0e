package archiver

import (
	"github.com/immich-vault/immich-vault/fs"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Extended metadata (attributes, ACLs, inode flags) of backed-up entries;
// the OS-specific reading is readExtMeta (nodemeta_linux.go).

// extMeta reads n's extended metadata through fd (an open descriptor of
// the entry) or, with fd -1, by path p (attributes only); problems are
// warnings (the snapshot is then partial).
func (a *archiver) extMeta(n *data.Node, fd int, p string) {
	for _, err := range fs.ReadExtMeta(n, fd, p) {
		a.warn(p, err)
	}
}

// extMetaUnread reads the extended metadata of a regular file whose
// content is not read (unchanged since the parent snapshot): it is opened
// for that (without following a symlink, without blocking should it have
// been replaced by a FIFO), or, where it cannot be opened, its attributes
// are read by path and its flags are not.
func (a *archiver) extMetaUnread(n *data.Node, p string) {
	fd, err := fs.OpenForMeta(p, n)
	if err != nil {
		a.extMeta(n, -1, p)
		return
	}
	defer fs.CloseFD(fd)
	a.extMeta(n, fd, p)
}
