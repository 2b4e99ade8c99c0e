package chunker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// testGear returns a gear table from a seeded PRNG (the repository derives
// it from the key; this package must not import crypto).
func testGear(seed uint64) *[256]uint64 {
	r := rand.New(rand.NewPCG(seed, 0x6765617220746162))
	var g [256]uint64
	for i := range g {
		g[i] = r.Uint64()
	}
	return &g
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'c', 'd', 'c'})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

var (
	bigOnce sync.Once
	bigData []byte
)

// big64MiB returns 64 MiB of seeded random data, shared by tests (read only).
func big64MiB() []byte {
	bigOnce.Do(func() { bigData = randomBytes(64<<20, 42) })
	return bigData
}

var (
	smallParams = Params{Min: 64, Avg: 256, Max: 1024}
	p64K        = Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}
	p1M         = Params{Min: 256 << 10, Avg: 1 << 20, Max: 8 << 20}
)

func mustNew(t testing.TB, p Params, gear *[256]uint64) *Chunker {
	t.Helper()
	c, err := New(p, gear)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// splitWhole returns chunk lengths of data fed as one buffer per call.
func splitWhole(c *Chunker, data []byte) []int {
	c.Reset()
	var sizes []int
	for len(data) > 0 {
		n := c.NextSplitPoint(data)
		if n < 0 {
			sizes = append(sizes, len(data))
			break
		}
		sizes = append(sizes, n)
		data = data[n:]
	}
	c.Reset()
	return sizes
}

// splitSliced feeds data in slices of the given sizes (cycled; a size of 0
// first feeds an empty slice, which must not end a chunk, then 1 byte).
func splitSliced(c *Chunker, data []byte, slices []int) []int {
	c.Reset()
	var sizes []int
	cur := 0
	for k := 0; len(data) > 0; k++ {
		s := slices[k%len(slices)]
		if s <= 0 {
			if c.NextSplitPoint(data[:0]) != -1 {
				panic("empty buffer ended a chunk")
			}
			s = 1
		}
		s = min(s, len(data))
		piece := data[:s]
		data = data[s:]
		for len(piece) > 0 {
			n := c.NextSplitPoint(piece)
			if n < 0 {
				cur += len(piece)
				break
			}
			sizes = append(sizes, cur+n)
			cur = 0
			piece = piece[n:]
		}
	}
	if cur > 0 {
		sizes = append(sizes, cur)
	}
	c.Reset()
	return sizes
}

// reference is a deliberately naive transcription of the format rules in
// the package documentation: hash every byte from the chunk start, test
// every length. The optimized chunker must agree with it exactly.
func reference(p Params, gear *[256]uint64, data []byte) []int {
	maskS, maskL := p.Masks()
	var sizes []int
	for len(data) > 0 {
		var fp uint64
		cut := len(data)
		for o := range data {
			fp = (fp << 1) + gear[data[o]]
			L := o + 1
			if (L >= p.Min && L < p.Avg && fp&maskS == 0) ||
				(L >= p.Avg && L < p.Max && fp&maskL == 0) ||
				L == p.Max {
				cut = L
				break
			}
		}
		sizes = append(sizes, cut)
		data = data[cut:]
	}
	return sizes
}

func checkChunks(t *testing.T, p Params, sizes []int, total int) {
	t.Helper()
	sum := 0
	for i, s := range sizes {
		sum += s
		if s <= 0 || s > p.Max || (s < p.Min && i != len(sizes)-1) {
			t.Fatalf("chunk %d/%d has size %d outside [%d, %d]", i, len(sizes), s, p.Min, p.Max)
		}
	}
	if sum != total {
		t.Fatalf("chunks sum to %d, want %d", sum, total)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Params
		ok bool
	}{
		{smallParams, true},
		{p64K, true},
		{p1M, true},
		{Params{Min: 64, Avg: 128, Max: 129}, true},
		{Params{Min: 1 << 20, Avg: 32 << 20, Max: 64 << 20}, true},
		{Params{}, false},
		{Params{Min: 63, Avg: 256, Max: 1024}, false},
		{Params{Min: 256, Avg: 256, Max: 1024}, false},
		{Params{Min: 300, Avg: 256, Max: 1024}, false},
		{Params{Min: 64, Avg: 256, Max: 256}, false},
		{Params{Min: 64, Avg: 384, Max: 1024}, false},
		{Params{Min: 64, Avg: 1 << 20, Max: 64<<20 + 1}, false},
		{Params{Min: 64, Avg: 64 << 20, Max: 128 << 20}, false},
		{Params{Min: -1, Avg: -1, Max: -1}, false},
	} {
		err := tc.p.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v", tc.p, err)
		}
		if err != nil && !errors.Is(err, ErrParams) {
			t.Errorf("%+v: %v does not wrap ErrParams", tc.p, err)
		}
		if _, err2 := New(tc.p, testGear(1)); (err2 == nil) != tc.ok {
			t.Errorf("%+v: New = %v", tc.p, err2)
		}
	}
	if _, err := New(smallParams, nil); !errors.Is(err, ErrParams) {
		t.Errorf("nil gear: %v", err)
	}
}

// TestMasks pins the mask bit positions, which are part of the format.
func TestMasks(t *testing.T) {
	for _, tc := range []struct {
		p            Params
		maskS, maskL uint64
	}{
		// Avg 2^20: 22 and 18 top bits.
		{p1M, 0xFFFFFC0000000000, 0xFFFFC00000000000},
		// Avg 2^16: 18 and 14 top bits.
		{p64K, 0xFFFFC00000000000, 0xFFFC000000000000},
		// Avg 2^8: 10 and 6 top bits.
		{smallParams, 0xFFC0000000000000, 0xFC00000000000000},
	} {
		s, l := tc.p.Masks()
		if s != tc.maskS || l != tc.maskL {
			t.Errorf("%+v: masks %#x %#x, want %#x %#x", tc.p, s, l, tc.maskS, tc.maskL)
		}
	}
}

func TestMatchesReference(t *testing.T) {
	data := randomBytes(4<<20, 7)
	for _, p := range []Params{smallParams, {Min: 64, Avg: 128, Max: 129}, {Min: 100, Avg: 1024, Max: 5000}, p64K} {
		for _, seed := range []uint64{1, 2} {
			g := testGear(seed)
			want := reference(p, g, data)
			got := splitWhole(mustNew(t, p, g), data)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%+v seed %d: %d chunks, reference %d", p, seed, len(got), len(want))
			}
			checkChunks(t, p, got, len(data))
		}
	}
}

func TestStreamingMatchesWhole(t *testing.T) {
	data := randomBytes(2<<20, 8)
	c := mustNew(t, smallParams, testGear(1))
	want := splitWhole(c, data)
	r := rand.New(rand.NewPCG(1, 2))
	for _, slices := range [][]int{{1}, {0, 2, 3}, {1023, 0, 1}, {63, 64, 65}, {1000, 1, 7}, {4096}, {1 << 20}} {
		if got := splitSliced(c, data, slices); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("slices %v: boundaries differ", slices)
		}
	}
	rnd := make([]int, 100)
	for i := range rnd {
		rnd[i] = r.IntN(3000)
	}
	if got := splitSliced(c, data, rnd); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("random slices: boundaries differ")
	}
}

func TestReaderChunks(t *testing.T) {
	all := randomBytes(8<<20, 9)
	for _, p := range []Params{smallParams, p64K, p1M} {
		c := mustNew(t, p, testGear(3))
		for _, bufSize := range []int{0, 1, 1000, p.Max, 3 * p.Max} {
			data := all
			if p.Max < 1<<20 {
				data = all[:2<<20]
			}
			if bufSize == 1 {
				data = all[:300<<10] // one Read per byte: keep it short
			}
			want := splitWhole(c, data)
			var buf []byte
			if bufSize > 0 {
				buf = make([]byte, bufSize)
			}
			rd := NewReader(bytes.NewReader(data), c, buf)
			var sizes []int
			var out []byte
			var chunk []byte
			for {
				var err error
				chunk, err = rd.Next(chunk)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, len(chunk))
				out = append(out, chunk...)
			}
			if !bytes.Equal(out, data) {
				t.Fatalf("%+v buf %d: concatenation differs", p, bufSize)
			}
			if fmt.Sprint(sizes) != fmt.Sprint(want) {
				t.Fatalf("%+v buf %d: boundaries differ from NextSplitPoint", p, bufSize)
			}
			checkChunks(t, p, sizes, len(data))
			if _, err := rd.Next(nil); err != io.EOF {
				t.Fatalf("after EOF: %v", err)
			}
		}
	}
}

func TestReaderOneByte(t *testing.T) {
	data := randomBytes(200<<10, 10)
	c := mustNew(t, smallParams, testGear(3))
	want := splitWhole(c, data)
	rd := NewReader(iotest.HalfReader(iotest.OneByteReader(bytes.NewReader(data))), c, nil)
	var sizes []int
	for {
		chunk, err := rd.Next(nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(chunk))
	}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatal("boundaries differ")
	}
	// DataErrReader returns the last data together with io.EOF.
	rd = NewReader(iotest.DataErrReader(bytes.NewReader(data[:100])), c, nil)
	chunk, err := rd.Next(nil)
	if err != nil || !bytes.Equal(chunk, data[:100]) {
		t.Fatalf("short stream: %d bytes, %v", len(chunk), err)
	}
	if _, err := rd.Next(nil); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestReaderEmpty(t *testing.T) {
	c := mustNew(t, smallParams, testGear(1))
	rd := NewReader(strings.NewReader(""), c, nil)
	for range 2 {
		if chunk, err := rd.Next(make([]byte, 10)); err != io.EOF || chunk != nil {
			t.Fatalf("empty stream: %v %v", chunk, err)
		}
	}
}

type errAfter struct {
	r   io.Reader
	n   int
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.err
	}
	p = p[:min(len(p), e.n)]
	n, _ := e.r.Read(p)
	e.n -= n
	return n, nil
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	data := randomBytes(100<<10, 11)
	c := mustNew(t, smallParams, testGear(1))
	rd := NewReader(&errAfter{r: bytes.NewReader(data), n: 50 << 10, err: boom}, c, make([]byte, 4096))
	got := 0
	var err error
	for {
		var chunk []byte
		chunk, err = rd.Next(nil)
		if err != nil {
			break
		}
		got += len(chunk)
	}
	if !errors.Is(err, boom) || err == boom || !strings.HasPrefix(err.Error(), "chunker: read") {
		t.Fatalf("err = %v", err)
	}
	if got == 0 || got > 50<<10 {
		t.Fatalf("returned %d bytes before the error", got)
	}
	if _, err2 := rd.Next(nil); !errors.Is(err2, boom) {
		t.Fatalf("error not sticky: %v", err2)
	}
	rd = NewReader(zeroReader{}, c, nil)
	if _, err := rd.Next(nil); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("zero reader: %v", err)
	}
	rd = NewReader(iotest.TimeoutReader(bytes.NewReader(data)), c, make([]byte, 1000))
	for err == nil || errors.Is(err, boom) {
		_, err = rd.Next(nil)
	}
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("timeout reader: %v", err)
	}
}

func TestDeterministicAndKeyed(t *testing.T) {
	data := randomBytes(4<<20, 12)
	a := splitWhole(mustNew(t, p64K, testGear(1)), data)
	b := splitWhole(mustNew(t, p64K, testGear(1)), data)
	other := splitWhole(mustNew(t, p64K, testGear(2)), data)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("not deterministic")
	}
	// Boundaries (as offsets) should be almost all different across tables.
	offs := map[int]bool{}
	pos := 0
	for _, s := range a[:len(a)-1] {
		pos += s
		offs[pos] = true
	}
	shared := 0
	pos = 0
	for _, s := range other[:len(other)-1] {
		pos += s
		if offs[pos] {
			shared++
		}
	}
	if shared > len(a)/10 {
		t.Fatalf("%d of %d boundaries shared across gear tables", shared, len(a))
	}
}

func TestAverageSize(t *testing.T) {
	data := big64MiB()
	for _, p := range []Params{p1M, p64K} {
		sizes := splitWhole(mustNew(t, p, testGear(5)), data)
		checkChunks(t, p, sizes, len(data))
		avg := float64(len(data)) / float64(len(sizes))
		t.Logf("%+v: %d chunks, average %.0f bytes (%.3f x Avg)", p, len(sizes), avg, avg/float64(p.Avg))
		if avg < 0.75*float64(p.Avg) || avg > 1.25*float64(p.Avg) {
			t.Errorf("%+v: average chunk %.0f not within 25%% of %d", p, avg, p.Avg)
		}
	}
}

// TestInsertion: inserting bytes near the start changes only the first
// chunks; the rest re-synchronise (the dedup property).
func TestInsertion(t *testing.T) {
	data := big64MiB()[:16<<20]
	p := p64K
	c := mustNew(t, p, testGear(6))
	orig := chunkSet(splitWhole(c, data), data)
	for _, ins := range []int{1, 7, 100} {
		mod := append(append(append([]byte{}, data[:1000]...), randomBytes(ins, 99)...), data[1000:]...)
		sizes := splitWhole(c, mod)
		newChunks := 0
		for i, ch := range chunkList(sizes, mod) {
			if !orig[string(ch)] {
				newChunks++
				if i > 3 {
					t.Errorf("insert %d: chunk %d is new", ins, i)
				}
			}
		}
		if newChunks == 0 || newChunks > 2 {
			t.Errorf("insert %d: %d new chunks of %d, want 1 or 2", ins, newChunks, len(sizes))
		}
	}
}

func chunkList(sizes []int, data []byte) [][]byte {
	var out [][]byte
	for _, s := range sizes {
		out = append(out, data[:s])
		data = data[s:]
	}
	return out
}

func chunkSet(sizes []int, data []byte) map[string]bool {
	m := map[string]bool{}
	for _, ch := range chunkList(sizes, data) {
		m[string(ch)] = true
	}
	return m
}

// TestZeros: input without entropy terminates and is cut into equal
// chunks whose size follows from gear[0] as documented.
func TestZeros(t *testing.T) {
	p := p64K
	maskS, maskL := p.Masks()
	zeros := make([]byte, 3<<20)
	forced := func(v uint64) *[256]uint64 { g := testGear(1); g[0] = -v; return g }
	for _, tc := range []struct {
		name string
		gear *[256]uint64
		want int
	}{
		{"min", forced(0x0000_0000_0000_1234), p.Min},
		{"avg", forced(maskS &^ maskL), p.Avg},
		{"max", forced(maskL), p.Max},
		{"random", testGear(1), 0},
	} {
		want := tc.want
		if want == 0 {
			v := -tc.gear[0]
			switch {
			case v&maskS == 0:
				want = p.Min
			case v&maskL == 0:
				want = p.Avg
			default:
				want = p.Max
			}
		}
		sizes := splitWhole(mustNew(t, p, tc.gear), zeros)
		checkChunks(t, p, sizes, len(zeros))
		for i, s := range sizes[:len(sizes)-1] {
			if s != want {
				t.Fatalf("%s: chunk %d is %d bytes, want %d", tc.name, i, s, want)
			}
		}
	}
}

func FuzzChunker(f *testing.F) {
	f.Add(randomBytes(5000, 1), []byte{1, 2, 3})
	f.Add(make([]byte, 3000), []byte{255})
	f.Add(bytes.Repeat([]byte("abc"), 1000), []byte{0, 63, 64, 65})
	g := testGear(7)
	c := mustNew(f, smallParams, g)
	f.Fuzz(func(t *testing.T, data, slices []byte) {
		whole := splitWhole(c, data)
		checkChunks(t, smallParams, whole, len(data))
		if ref := reference(smallParams, g, data); fmt.Sprint(ref) != fmt.Sprint(whole) {
			t.Fatalf("differs from reference: %v vs %v", whole, ref)
		}
		if len(slices) == 0 {
			slices = []byte{1}
		}
		sl := make([]int, len(slices))
		for i, s := range slices {
			sl[i] = int(s) * 8 // 0..2040: around the chunk sizes
		}
		if got := splitSliced(c, data, sl); fmt.Sprint(got) != fmt.Sprint(whole) {
			t.Fatalf("sliced %v: %v, whole: %v", sl, got, whole)
		}
		// Reader with a tiny buffer agrees and concatenates to the input.
		rd := NewReader(bytes.NewReader(data), c, make([]byte, 1+int(slices[0])))
		if out, sizes := readChunks(t, rd, nil); !bytes.Equal(out, data) || fmt.Sprint(sizes) != fmt.Sprint(whole) {
			t.Fatal("reader differs")
		}
		// Reading straight into the chunk buffers (Next with spare
		// capacity), from a reader returning short reads of varying
		// sizes, gives the same chunks.
		rd = NewReader(&shortReader{data: data, sizes: sl}, c, make([]byte, 16<<10+64*int(slices[0])))
		out, sizes := readChunks(t, rd, make([]byte, 0, 16<<10+int(slices[len(slices)-1])*256))
		if !bytes.Equal(out, data) || fmt.Sprint(sizes) != fmt.Sprint(whole) {
			t.Fatalf("direct reader differs: %v, whole: %v", sizes, whole)
		}
	})
}

// readChunks reads rd to the end and returns the chunks' bytes and sizes.
// dst (if not nil) is handed to Next, and every chunk's buffer that is at
// least as large is handed to the next call (the archiver's pattern).
func readChunks(t testing.TB, rd *Reader, dst []byte) (out []byte, sizes []int) {
	t.Helper()
	for {
		chunk, err := rd.Next(dst)
		if err == io.EOF {
			return out, sizes
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, chunk...)
		sizes = append(sizes, len(chunk))
		if dst != nil && cap(chunk) >= cap(dst) {
			dst = chunk[:0]
		}
	}
}

// shortReader returns data in reads of the given sizes in turn (0: the
// rest of the caller's buffer), like a file read in pieces.
type shortReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *shortReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := r.sizes[r.i%len(r.sizes)]
	r.i++
	if n == 0 || n > len(p) {
		n = len(p)
	}
	n = copy(p[:n], r.data)
	r.data = r.data[n:]
	return n, nil
}

func BenchmarkNextSplitPoint(b *testing.B) {
	data := randomBytes(64<<20, 1)
	for _, tc := range []struct {
		name string
		p    Params
	}{{"avg64K", p64K}, {"avg1M", p1M}} {
		c := mustNew(b, tc.p, testGear(1))
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c.Reset()
				buf := data
				for len(buf) > 0 {
					n := c.NextSplitPoint(buf)
					if n < 0 {
						break
					}
					buf = buf[n:]
				}
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	data := randomBytes(64<<20, 1)
	c := mustNew(b, p1M, testGear(1))
	buf := make([]byte, 2*p1M.Max)
	chunk := make([]byte, 0, p1M.Max)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rd := NewReader(bytes.NewReader(data), c, buf)
		for {
			next, err := rd.Next(chunk)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			chunk = next
		}
	}
}

// TestEmptyBuffer: an empty slice never ends a chunk, in any state,
// including just before the forced cut at Max.
func TestEmptyBuffer(t *testing.T) {
	p := smallParams
	_, maskL := p.Masks()
	g := testGear(1)
	g[0] = -maskL // all-zero input: no content cut, only the forced one at Max
	c := mustNew(t, p, g)
	zeros := make([]byte, p.Max)
	for _, n := range []int{0, 1, p.Min - 64, p.Min - 1, p.Min, p.Avg - 1, p.Avg, p.Max - 1} {
		c.Reset()
		if got := c.NextSplitPoint(zeros[:n]); n > 0 && got != -1 {
			t.Fatalf("after %d bytes: cut at %d", n, got)
		}
		if got := c.NextSplitPoint(nil); got != -1 {
			t.Fatalf("empty buffer after %d bytes: %d", n, got)
		}
		if got := c.NextSplitPoint(zeros[:p.Max-n]); got != p.Max-n {
			t.Fatalf("after %d bytes: cut at %d, want %d", n, got, p.Max-n)
		}
	}
}

// TestReaderDirect compares chunks read straight into the chunk buffers
// (Next with spare capacity) with chunks cut from the whole input, for
// several read patterns, buffer sizes and chunk-buffer capacities.
func TestReaderDirect(t *testing.T) {
	p := Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}
	c := mustNew(t, p, testGear(3))
	data := randomBytes(3<<20+12345, 9)
	whole := splitWhole(c, data)
	for _, tc := range []struct {
		reads      []int
		buf, dstCp int
	}{
		{[]int{0}, 1 << 20, 2 << 20},   // full reads, large chunk buffers
		{[]int{0}, 16 << 10, 64 << 10}, // small buffer: short steps past Min
		{[]int{4096, 0, 100, 70000}, 200 << 10, 300 << 10},
		{[]int{1, 0}, 1 << 20, 20 << 10}, // capacity below Min: mixed paths
		{[]int{0}, 1 << 20, 4 << 10},     // too little room: buffered path only
	} {
		rd := NewReader(&shortReader{data: data, sizes: tc.reads}, c, make([]byte, tc.buf))
		out, sizes := readChunks(t, rd, make([]byte, 0, tc.dstCp))
		if !bytes.Equal(out, data) || fmt.Sprint(sizes) != fmt.Sprint(whole) {
			t.Fatalf("reads %v, buffer %d, capacity %d: %d chunks %v, want %d %v", tc.reads, tc.buf, tc.dstCp, len(sizes), sizes, len(whole), whole)
		}
	}
}
