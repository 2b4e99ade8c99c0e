//go:build !unix

package fs

import (
	"os"
)

// OpenExistingTargetRoot opens the restore target p without creating it.
func OpenExistingTargetRoot(p string) (*TargetRoot, error) {
	r, err := os.OpenRoot(p)
	if err != nil {
		return nil, err
	}
	return &TargetRoot{root: r, path: p}, nil
}

// Names lists the entries of directory d of the target (unsorted).
func (t *TargetRoot) Names(d TargetDir) ([]string, error) {
	f, err := t.root.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
