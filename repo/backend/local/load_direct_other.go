//go:build !linux

package local

import (
	"io"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// loadDirect: O_DIRECT reads are Linux only (load_direct_linux.go).
func loadDirect(backend.Handle, string, int, int64, func(io.Reader) error) (bool, error) {
	return false, nil
}
