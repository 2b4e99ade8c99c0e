package repo

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestBlobEncoderFrame: NewBlobEncoder, shared by the repository and the
// benchmark's ceiling, writes what docs/FORMAT.md §5.3 promises for v1
// writers: no content checksum, window ≤ 1 MiB (a reader may
// refuse larger windows), also for a chunk of the largest size (8 MiB).
func TestBlobEncoderFrame(t *testing.T) {
	enc, err := NewBlobEncoder(2)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var src bytes.Buffer
	for i := 0; src.Len() < 8<<20; i++ {
		src.WriteString("COPY public.asset (id, \"ownerId\", \"originalPath\") FROM stdin;\n")
		src.WriteByte(byte(i))
	}
	out := enc.EncodeAll(src.Bytes(), nil)
	var h zstd.Header
	if err := h.Decode(out); err != nil {
		t.Fatal(err)
	}
	if h.WindowSize > 1<<20 || h.WindowSize == 0 {
		t.Errorf("window %d bytes, want ≤ 1 MiB", h.WindowSize)
	}
	if h.HasCheckSum {
		t.Error("frame has a content checksum")
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := dec.DecodeAll(out, nil)
	if err != nil || !bytes.Equal(got, src.Bytes()) {
		t.Fatalf("round trip with a 1 MiB window limit: err %v, %d of %d bytes", err, len(got), src.Len())
	}
	if n := len(out); n >= len(src.Bytes())/2 {
		t.Errorf("8 MiB of repetitive text compressed to %d bytes", n)
	}
}
