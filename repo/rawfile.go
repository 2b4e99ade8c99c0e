package repo

import (
	"errors"
	"io"
	"sort"
	"syscall"
	"time"
)

// rawFile reads a source file through its file descriptor directly. For
// regular files os.File costs extra syscalls (netpoller registration,
// fcntl, an fstat) that dominate backups of many small files.
type rawFile struct {
	fd int
}

// openSource opens p for reading without following a final symlink and,
// where permitted, without updating its access time.
func openSource(p string) (*rawFile, error) {
	for {
		fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NOATIME|syscall.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EPERM) {
			fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, &pathError{"open", p, err}
		}
		return &rawFile{fd: fd}, nil
	}
}

type pathError struct {
	op, path string
	err      error
}

func (e *pathError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func (f *rawFile) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(f.fd, b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// stat returns size, mtime and whether the file is regular.
func (f *rawFile) stat() (size int64, mtime time.Time, regular bool, err error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(f.fd, &st); err != nil {
		return 0, time.Time{}, false, err
	}
	return st.Size, time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)), st.Mode&syscall.S_IFMT == syscall.S_IFREG, nil
}

func (f *rawFile) Close() error { return syscall.Close(f.fd) }

// readDirNames returns the sorted entry names of directory p (without "."
// and ".."), reading the directory through its descriptor directly.
func readDirNames(p string) ([]string, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &pathError{"open", p, err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, 32<<10)
	var names []string
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			sort.Strings(names)
			return names, &pathError{"readdir", p, err}
		}
		if n <= 0 {
			break
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
	sort.Strings(names)
	return names, nil
}
