package local

import (
	"path/filepath"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
)

func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		be, err := Open(filepath.Join(t.TempDir(), "repo"))
		if err != nil {
			t.Fatal(err)
		}
		return be
	})
}

// TestSuiteLinkFallback runs the suite with the link(2)+unlink(2) path that
// filesystems without RENAME_NOREPLACE use, and without preallocation.
func TestSuiteLinkFallback(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		be, err := Open(filepath.Join(t.TempDir(), "repo"))
		if err != nil {
			t.Fatal(err)
		}
		be.noRenameat2 = true
		be.noPrealloc = true
		return be
	})
}
