package main

import (
	"os"
	"path/filepath"

	"github.com/immich-vault/immich-vault/repo"
)

// serveCacheDir is where serve keeps gallery indexes and thumbnails: next
// to the repository's local cache (--cache-dir, else the user cache
// directory), in a directory of its own; "" (a temporary directory) when
// there is none.
func serveCacheDir(r *repo.Repository) string {
	root := gopts.cacheDir
	if root == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		root = filepath.Join(d, "immich-vault")
	}
	return filepath.Join(root, r.Config().ID, "serve")
}
