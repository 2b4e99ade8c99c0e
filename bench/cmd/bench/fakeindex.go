package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend/local"
)

// fillIndex writes index files describing blobs fake data blobs in fake
// packs (blobsPerPack each, perFile entries per index file) into the
// existing repository at dir, through the repository's own API. The packs
// do not exist: the index only has to make the repository look like one
// holding that many blobs to the code that loads and consults the index.
func fillIndex(ctx context.Context, dir string, blobs, blobsPerPack, perFile int, seed uint64) (files int, err error) {
	be, err := local.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("open backend: %w", err)
	}
	r, err := repo.Open(ctx, be, []byte(password), repo.Options{NoCache: true})
	if err != nil {
		return 0, fmt.Errorf("open repository: %w", err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(seed, 0x10de))
	randID := func() (id crypto.ID) {
		for i := 0; i < len(id); i += 8 {
			binary.LittleEndian.PutUint64(id[i:], rng.Uint64())
		}
		return id
	}
	f := &index.File{}
	inFile := 0
	for done := 0; done < blobs; {
		pb := index.PackBlobs{Pack: randID()}
		off := uint32(0)
		for i := 0; i < blobsPerPack && done < blobs; i++ {
			raw := uint32(64<<10 + rng.IntN(960<<10))
			e := pack.Entry{
				BlobHandle:  pack.BlobHandle{ID: randID(), Type: pack.DataBlob},
				Compression: pack.CompressionNone,
				Offset:      off,
				Length:      raw + crypto.Overhead,
				RawLength:   raw,
			}
			off += e.Length
			pb.Entries = append(pb.Entries, e)
			done++
			inFile++
		}
		f.Packs = append(f.Packs, pb)
		if inFile >= perFile || done == blobs {
			if _, err := r.SaveIndexFile(ctx, f); err != nil {
				return files, err
			}
			files++
			f, inFile = &index.File{}, 0
		}
	}
	return files, nil
}
