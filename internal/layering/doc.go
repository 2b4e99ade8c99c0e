// Package layering holds a test that pins down the import direction between
// the module's packages (the architecture in STYLE.md §A):
//
//	cmd/... → web → immich → {archiver, restorer, maintenance} → {repo, fs} → repo/data
//	repo → {repo/backend/..., index → pack → crypto, chunker};  ops imports nothing
//
// Only cmd/..., bench/..., fuzz/..., the Immich layer above the engine and
// web/ (the serve command's server) may import the engine's operations; only
// they and the operations may import repo; no engine package may import the
// Immich layer or ops, only cmd/... imports web/, and only tests import
// repo/repotest. It
// plays the role of restic's depguard rule: a violation fails `make test`
// with the offending import named.
package layering
