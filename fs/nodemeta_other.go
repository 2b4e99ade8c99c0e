//go:build !linux

package fs

import (
	"errors"

	"github.com/immich-vault/immich-vault/repo/data"
)

// Extended attributes and inode flags are read and restored on Linux only
// (their names and flag bits are Linux's). Elsewhere a backup stores none,
// and a restore reports those a snapshot holds as not restored.

var errExtUnsupported = errors.New("extended attributes and file flags are restored on Linux only")

func ReadExtMeta(*data.Node, int, string) []error { return nil }

type ExtReport func(kind string, err error)

func applyXAttrs(_ int, n *data.Node, report ExtReport) error {
	reportExt(n, report, false)
	return nil
}

func applyXAttrsPath(_ int, n *data.Node, report ExtReport) error {
	reportExt(n, report, false)
	return nil
}

func applyFlags(_ int, n *data.Node, report ExtReport) error { reportExt(n, report, true); return nil }

// reportExt reports n's attributes (or, with flags, its flags) as not
// restored.
func reportExt(n *data.Node, report ExtReport, flags bool) {
	if flags {
		if n.Flags&data.StoredFlags != 0 {
			report(data.MetaKindFlags, errExtUnsupported)
		}
		return
	}
	for _, x := range n.XAttrs {
		report(data.XAttrKind(x.Name), errExtUnsupported)
	}
}

func OpenForMeta(string, *data.Node) (int, error) { return -1, errExtUnsupported }

func CloseFD(int) {}
