// Package data holds the snapshot data types of the repository format: a
// snapshot's directory tree as Node and Tree values, their canonical
// encoding (the bytes of a tree blob, docs/FORMAT.md "Trees"), extended
// metadata bounds, and the one path resolver (FindNodeIn). It knows nothing
// of blobs, packs or backends: package repo loads and stores trees
// (Repository.LoadTree, Uploader.SaveTree, Repository.FindNode) on top of it,
// and the OS layer (fs) turns files into Nodes and Nodes back into files.
package data

import (
	"errors"

	"github.com/immich-vault/immich-vault/crypto"
)

// ID identifies a blob (keyed BLAKE3 of its plaintext); the same type as
// crypto.ID and repo.ID.
type ID = crypto.ID

// ErrCorrupt marks data that fails validation; repo.ErrCorrupt is the same
// error, so errors.Is works against either name.
var ErrCorrupt = errors.New("repo: corrupt repository data")
