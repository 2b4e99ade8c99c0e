package mem_test

import (
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/backendtest"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
)

func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return mem.New() })
}
