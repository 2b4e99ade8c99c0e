package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestGenerateD: same seed, same corpus; about the asked size; and it
// compresses (zstd stores it in well under 70 % and over 20 % of its size,
// i.e. neither incompressible like A nor trivially repetitive).
func TestGenerateD(t *testing.T) {
	const size = 24 << 20
	a, b := t.TempDir(), t.TempDir()
	st, err := GenerateD(a, size, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateD(b, size, 7); err != nil {
		t.Fatal(err)
	}
	if digest(t, a) != digest(t, b) {
		t.Fatal("two corpora of the same seed differ")
	}
	if st.Bytes < size*9/10 || st.Bytes > size*13/10 || st.Files < 50 {
		t.Fatalf("corpus D: %d files, %d bytes; want about %d bytes", st.Files, st.Bytes, size)
	}
	var in, out int64
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	err = filepath.Walk(a, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		in += int64(len(data))
		out += int64(len(enc.EncodeAll(data, nil)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if in != st.Bytes {
		t.Fatalf("files hold %d bytes, Stats says %d", in, st.Bytes)
	}
	ratio := float64(out) / float64(in)
	if ratio < 0.2 || ratio > 0.7 {
		t.Fatalf("zstd stores %.2f of corpus D; want 0.2–0.7", ratio)
	}
	t.Logf("%d files, %d bytes, zstd ratio %.2f", st.Files, st.Bytes, ratio)
	// Source files look like source: lines and identifiers.
	srcs, _ := filepath.Glob(filepath.Join(a, "src", "*", "*", "*"))
	if len(srcs) == 0 {
		t.Fatal("no source files")
	}
	data, _ := os.ReadFile(srcs[0])
	if !bytes.Contains(data, []byte("\n")) {
		t.Fatalf("%s has no lines", srcs[0])
	}
}
