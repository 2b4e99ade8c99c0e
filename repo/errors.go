package repo

import (
	"errors"

	"github.com/immich-vault/immich-vault/repo/data"
)

// Sentinel errors callers branch on (cmd maps them to exit codes).
var (
	// ErrNoRepository: there is no repository at the location (no marker file).
	ErrNoRepository = errors.New("repo: no repository at this location")
	// ErrRepositoryExists: init found an existing repository.
	ErrRepositoryExists = errors.New("repo: a repository already exists at this location")
	// ErrWrongPassword: no key file could be opened with the password.
	ErrWrongPassword = errors.New("repo: wrong password or no key found")
	// ErrUnsupportedVersion: the repository uses a format this program does not know.
	ErrUnsupportedVersion = errors.New("repo: unsupported repository format version")
	// ErrCorrupt: a repository file failed to authenticate or decode.
	ErrCorrupt = data.ErrCorrupt
	// ErrBlobNotFound: a referenced blob is not in the index.
	ErrBlobNotFound = errors.New("repo: blob not found in index")
	// ErrSnapshotNotFound: no snapshot matches the given ID prefix.
	ErrSnapshotNotFound = errors.New("repo: snapshot not found")
	// ErrAmbiguousSnapshot: an ID prefix matches more than one snapshot.
	ErrAmbiguousSnapshot = errors.New("repo: snapshot ID prefix is ambiguous")
	// ErrTargetNotEmpty: restore target is not empty and no overwrite policy was given.
	ErrTargetNotEmpty = errors.New("repo: restore target is not empty")
	// ErrKeyInUse: the key used to open the repository cannot be removed.
	ErrKeyInUse = errors.New("repo: cannot remove the key currently in use")
)
