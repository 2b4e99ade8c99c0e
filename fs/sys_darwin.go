package fs

// fadviseWillNeed does nothing on macOS: it has no posix_fadvise, and its
// fcntl(F_RDADVISE) is not wrapped by x/sys/unix. Sequential reads rely on
// the kernel's own readahead (see docs/PLATFORMS.md).
func fadviseWillNeed(fd int, off, n int64) {}
