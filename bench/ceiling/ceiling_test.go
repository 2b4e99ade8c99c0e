package ceiling

import (
	"math"
	"testing"

	"github.com/immich-vault/immich-vault/crypto"
)

func TestPipelineLimit(t *testing.T) {
	r := Rates{ReadCached: 1000, ReadDisk: 300, Chunk: 1000, Hash: 1000, Encrypt: 1000, WriteCached: 1000, WriteFsync: 600}
	l := r.PipelineLimit(2, true)
	if math.Abs(l.CPUPerCore-200) > 1e-9 || math.Abs(l.CPU-400) > 1e-9 {
		t.Errorf("cpu %v per core, %v total; want 200, 400", l.CPUPerCore, l.CPU)
	}
	if math.Abs(l.IO-200) > 1e-9 || l.BoundBy != "disk" || l.Bound != l.IO {
		t.Errorf("cold: io %v bound %v by %s; want 200 by disk", l.IO, l.Bound, l.BoundBy)
	}
	w := r.PipelineLimit(2, false)
	if math.Abs(w.IO-600) > 1e-9 || w.BoundBy != "cpu" || math.Abs(w.Bound-400) > 1e-9 {
		t.Errorf("warm: io %v bound %v by %s; want io 600, bound 400 by cpu", w.IO, w.Bound, w.BoundBy)
	}
}

func TestMeasureSmall(t *testing.T) {
	r, err := Measure(Options{Dir: t.TempDir(), Size: 4 << 20, DiskSize: 4 << 20, Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"read": r.ReadCached, "chunk": r.Chunk, "hash": r.Hash, "compress": r.Compress, "encrypt": r.Encrypt, "write": r.WriteCached, "fsync": r.WriteFsync} {
		if v <= 0 || math.IsInf(v, 0) {
			t.Errorf("%s rate %v", name, v)
		}
	}
	if r.EncryptCipher != crypto.DefaultCipher() {
		t.Errorf("encrypt measured %q, but a new repository here gets %q", r.EncryptCipher, crypto.DefaultCipher())
	}
	if r.ReadDisk != 0 {
		t.Errorf("disk read measured without a DropCaches function: %v", r.ReadDisk)
	}
}
