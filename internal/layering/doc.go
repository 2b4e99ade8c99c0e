// Package layering holds a test that pins down the import direction between
// the module's packages (the architecture in STYLE.md §A):
//
//	cmd/...  →  repo  →  {repo/backend/..., pack, index, chunker, crypto}
//	index → pack → crypto;  chunker and crypto import no project package.
//
// Only cmd/..., bench/..., fuzz/..., the Immich layer above the engine and
// web/ (the serve command's server) may import repo; no engine package may
// import the Immich layer, and only cmd/... imports web/. It
// plays the role of restic's depguard rule: a violation fails `make test`
// with the offending import named.
package layering
