package ceiling

import (
	"math"
	"testing"
)

func TestRestoreAndCompressibleLimits(t *testing.T) {
	r := Rates{ReadCached: 1000, ReadDisk: 300, Chunk: 1000, Hash: 1000, Compress: 500, Encrypt: 1000, WriteCached: 1000, WriteFsync: 600}
	l := r.RestoreLimit(2, true) // 4 stages of 1000: 250 per core
	if math.Abs(l.CPU-500) > 1e-9 || math.Abs(l.IO-300) > 1e-9 || l.BoundBy != "disk" {
		t.Errorf("restore cold: %+v; want cpu 500, io 300 by disk", l)
	}
	if w := r.RestoreLimit(2, false); w.BoundBy != "cpu" || math.Abs(w.Bound-500) > 1e-9 {
		t.Errorf("restore warm: %+v; want 500 by cpu", w)
	}
	// ratio 0.5: 1/1000*3 + 1/500 + 0.5*(2/1000) = 0.006 s/B → 166.7 per core.
	c := r.CompressibleLimit(2, 0.5, true)
	if math.Abs(c.CPUPerCore-1000.0/6) > 1e-9 {
		t.Errorf("compressible cpu per core %v, want %v", c.CPUPerCore, 1000.0/6)
	}
	// io: 1/300 + 0.5/600 = 1/240.
	if math.Abs(c.IO-240) > 1e-9 || c.BoundBy != "disk" {
		t.Errorf("compressible io %v by %s, want 240 by disk", c.IO, c.BoundBy)
	}
}
