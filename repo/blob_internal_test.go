package repo

import (
	"math"
	"math/rand/v2"
	"testing"
)

// entropyRef is the textbook order-0 entropy, bits per byte.
func entropyRef(b []byte) float64 {
	var hist [256]int
	for _, c := range b {
		hist[c]++
	}
	var e float64
	for _, c := range hist {
		if c > 0 {
			p := float64(c) / float64(len(b))
			e -= p * math.Log2(p)
		}
	}
	return e
}

func TestEntropyTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 100, 4095, 4096, 4097, 10000} {
		for _, alphabet := range []int{1, 2, 16, 256} {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(alphabet))
			}
			if got, want := entropy(b), entropyRef(b); math.Abs(got-want) > 1e-9 {
				t.Errorf("n=%d alphabet=%d: entropy %v, want %v", n, alphabet, got, want)
			}
		}
	}
}

func BenchmarkEntropy(b *testing.B) {
	buf := make([]byte, 4<<10)
	rand.NewChaCha8([32]byte{1}).Read(buf)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		entropy(buf)
	}
}
