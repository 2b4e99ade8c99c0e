//go:build unix

package local

import (
	"io"
	"io/fs"
	"syscall"
)

// openLoad opens p for Load: a reader of its bytes, its size and the
// function that closes it. Raw descriptor and pread: os.File would register
// the file with the netpoller and cost several extra syscalls per load
// (restore loads one range per tree and per pack).
func openLoad(p string) (io.ReaderAt, int64, func(), error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, 0, nil, &fs.PathError{Op: "fstat", Path: p, Err: err}
	}
	return fdReaderAt(fd), st.Size, func() { syscall.Close(fd) }, nil
}

// fdReaderAt reads a raw descriptor with pread.
type fdReaderAt int

func (fd fdReaderAt) ReadAt(b []byte, off int64) (int, error) {
	total := 0
	for total < len(b) {
		n, err := syscall.Pread(int(fd), b[total:], off+int64(total))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.EOF
		}
		total += n
	}
	return total, nil
}
