package local

import (
	"io"
	"os"
)

// openLoadPortable opens p for Load through package os where there are no
// raw descriptors (load_other.go): a reader of its bytes, its size and the
// function that closes it. It builds everywhere so that it is tested on
// Linux too.
func openLoadPortable(p string) (io.ReaderAt, int64, func(), error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return f, fi.Size(), func() { f.Close() }, nil
}
