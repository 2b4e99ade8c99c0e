package repo

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/pack"
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

// sqlText returns n bytes of SQL-like text (compressible, as a dump is).
func sqlText(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 4))
	words := []string{"INSERT", "INTO", "asset", "VALUES", "'2024-01-01'", "NULL", "true", "(", ")", ",", "uuid", "\n"}
	text := make([]byte, 0, n+16)
	for len(text) < n {
		text = append(text, words[rng.IntN(len(words))]...)
		text = append(text, ' ')
	}
	return text[:n]
}

// TestCompressDoesNotQueue: a small compress call started while a large one
// runs on another goroutine finishes first. With one shared zstd encoder
// (WithEncoderConcurrency(1), issue 14) the small call waited for the large
// one, so compressible data used one core however many blob workers ran.
// The large call takes about a second of CPU; the small one microseconds, so
// the order holds on a loaded machine too.
func TestCompressDoesNotQueue(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	if strconv.IntSize == 32 {
		// zstd leaves inputs of 64 MiB and more uncompressed in a 32-bit
		// program, and a real blob (at most 8 MiB) is too short a call to
		// order against another; the 64-bit run covers the setting.
		t.Skip("needs a 64-bit program")
	}
	r := newTestRepo(t)
	big := sqlText(128<<20, 5)
	small := sqlText(64<<10, 6)
	started := make(chan struct{})
	bigDone := make(chan struct{})
	go func() {
		defer close(bigDone)
		close(started)
		if _, c := r.compress(pack.DataBlob, big, nil); c != pack.CompressionZstd {
			t.Error("large SQL-like text was not compressed")
		}
	}()
	<-started
	// Let the large call take the encoder first.
	for i := 0; i < 50; i++ {
		runtime.Gosched()
	}
	time.Sleep(20 * time.Millisecond)
	if _, c := r.compress(pack.DataBlob, small, nil); c != pack.CompressionZstd {
		t.Fatal("small SQL-like text was not compressed")
	}
	select {
	case <-bigDone:
		t.Fatal("the small compress call finished only after the large one: concurrent calls queue behind one encoder")
	default:
	}
	<-bigDone
}

// BenchmarkCompressParallel compresses SQL-like text from GOMAXPROCS
// goroutines at once, as the backup's blob workers do: its throughput
// scales with cores only if concurrent compress calls do not queue behind
// one zstd encoder (issue 14: WithEncoderConcurrency(1) made every
// compressible backup use one core).
func BenchmarkCompressParallel(b *testing.B) {
	r := newTestRepo(b)
	const size = 1 << 20
	text := sqlText(size, 3)
	b.SetBytes(size)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, size)
		for pb.Next() {
			if _, c := r.compress(pack.DataBlob, text, dst); c != pack.CompressionZstd {
				b.Error("SQL-like text was not compressed")
				return
			}
		}
	})
}
