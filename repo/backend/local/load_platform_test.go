package local

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// openLoad (raw pread on Unix) and openLoadPortable (package os, what
// Windows uses) must behave alike: a missing file is backend.ErrNotFound
// once wrapped by notFound, and ranges read the file's bytes.
func TestOpenLoadPlatforms(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string) (io.ReaderAt, int64, func(), error){
		"openLoad": openLoad, "openLoadPortable": openLoadPortable,
	} {
		t.Run(name, func(t *testing.T) {
			for _, missing := range []string{filepath.Join(dir, "missing"), filepath.Join(p, "below-a-file")} {
				if _, _, _, err := open(missing); !errors.Is(notFound(err), backend.ErrNotFound) {
					t.Errorf("%s: %v, want ErrNotFound", missing, err)
				}
			}
			r, size, closeFile, err := open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer closeFile()
			b := make([]byte, 4)
			if n, err := r.ReadAt(b, 3); size != 10 || n != 4 || err != nil || string(b) != "3456" {
				t.Fatalf("size %d, ReadAt: %d %v %q", size, n, err, b)
			}
			if n, err := r.ReadAt(b, 8); n != 2 || err != io.EOF {
				t.Fatalf("ReadAt past the end: %d %v", n, err)
			}
		})
	}
}
