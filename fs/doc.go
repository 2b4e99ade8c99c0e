// Package fs is the operating-system layer of backup and restore: raw,
// no-atime reads of source files and directories (rawfile*.go, or the
// portable os-package reader elsewhere), the lstat fields a node records
// (sys_*.go), extended attributes and inode flags (nodemeta_*.go), and a
// restore target that never follows a symlink (TargetRoot, restore_*.go).
// Everything a platform cannot do is a documented degradation here
// (docs/PLATFORMS.md), never a build failure: each OS-specific file has a
// build tag and a fallback. It knows nodes (repo/data) and nothing of the
// repository.
package fs
