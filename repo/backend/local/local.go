// Package local stores a repository in a directory of the local filesystem.
package local

// Open returns a Backend for the repository directory dir (it need not exist
// yet for Create). Writes go to a temporary file in the target directory,
// are fsync'd, renamed into place (never replacing an existing file), and the
// directory is fsync'd. ENOSPC is reported as backend.ErrNoSpace (wrapped)
// and the temporary file is removed.
// func Open(dir string) (*Local, error)
