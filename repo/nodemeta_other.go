//go:build !linux

package repo

import "errors"

// Extended attributes and inode flags are read and restored on Linux only
// (their names and flag bits are Linux's). Elsewhere a backup stores none,
// and a restore reports those a snapshot holds as not restored.

var errExtUnsupported = errors.New("extended attributes and file flags are restored on Linux only")

func readExtMeta(*Node, int, string) []error { return nil }

type extReport func(kind string, err error)

func applyXAttrs(_ int, n *Node, report extReport) error { reportExt(n, report, false); return nil }

func applyXAttrsPath(_ int, n *Node, report extReport) error {
	reportExt(n, report, false)
	return nil
}

func applyFlags(_ int, n *Node, report extReport) error { reportExt(n, report, true); return nil }

// reportExt reports n's attributes (or, with flags, its flags) as not
// restored.
func reportExt(n *Node, report extReport, flags bool) {
	if flags {
		if n.Flags&StoredFlags != 0 {
			report(MetaKindFlags, errExtUnsupported)
		}
		return
	}
	for _, x := range n.XAttrs {
		report(xattrKind(x.Name), errExtUnsupported)
	}
}

func openForMeta(string, *Node) (int, error) { return -1, errExtUnsupported }

func closeFD(int) {}
