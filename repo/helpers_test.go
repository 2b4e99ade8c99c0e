package repo_test

import (
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
)

func blobHandle(id repo.ID) pack.BlobHandle { return pack.BlobHandle{ID: id, Type: pack.DataBlob} }
