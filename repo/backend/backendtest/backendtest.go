// Package backendtest is the conformance suite every backend.Backend must
// pass (mem, local, s3, and decorators around them).
//
// The suite pins down the semantics that the repository relies on and that
// the Backend doc comments only sketch:
//   - Create fails with backend.ErrExists (wrapped) once a marker is stored;
//     the marker and config names are ignored (singletons).
//   - Save never overwrites: an existing name gives backend.ErrExists and the
//     stored content is unchanged; of concurrent Saves of one name exactly one
//     wins. Save reads exactly rd.Length() bytes; a reader that delivers
//     another amount or fails makes Save fail and leaves no file.
//   - Load honours offset/length; a range ending past the end of the file is
//     an error wrapping io.ErrUnexpectedEOF (never a silent short read);
//     offset == size with length 0 is an empty read. fn's error is returned
//     (errors.Is matches it).
//   - Missing files give backend.ErrNotFound for Load, Stat and Remove.
//   - List lists exactly the files of one type with their sizes and stops at
//     fn's first error, returning it.
//   - A canceled context makes every I/O method fail with an error matching
//     context.Canceled.
//   - Invalid handles (see backend.Handle.Validate) give
//     backend.ErrInvalidHandle.
package backendtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// Run runs the suite. newBackend must return a fresh, empty backend for each
// call (Create is not yet called), independent of every other one, because
// subtests run in parallel; it should register its own cleanup with
// t.Cleanup.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, be backend.Backend)
	}{
		{"Create", testCreate},
		{"Singletons", testSingletons},
		{"SaveLoad", testSaveLoad},
		{"Ranges", testRanges},
		{"Stat", testStat},
		{"List", testList},
		{"NoOverwrite", testNoOverwrite},
		{"ConcurrentSameName", testConcurrentSameName},
		{"Remove", testRemove},
		{"Missing", testMissing},
		{"ListStops", testListStops},
		{"ConcurrentSaves", testConcurrentSaves},
		{"LoadFnError", testLoadFnError},
		{"Canceled", testCanceled},
		{"FailingReader", testFailingReader},
		{"WrongLength", testWrongLength},
		{"InvalidHandle", testInvalidHandle},
		{"Large", testLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := newBackend(t)
			tc.fn(t, be)
		})
	}
}

// Data returns n deterministic pseudo-random bytes for seed.
func Data(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b) // never fails
	return b
}

// Name returns a 64-hex-digit name derived from seed, like a pack ID.
func Name(seed uint64) string {
	return fmt.Sprintf("%016x%016x%016x%016x", seed*0x9e3779b97f4a7c15, seed, ^seed, seed+1)
}

func create(t *testing.T, be backend.Backend) {
	t.Helper()
	if err := be.Create(context.Background()); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

func save(t *testing.T, be backend.Backend, h backend.Handle, data []byte) {
	t.Helper()
	if err := be.Save(context.Background(), h, backend.NewByteReader(data)); err != nil {
		t.Fatalf("Save %v: %v", h, err)
	}
}

func load(t *testing.T, be backend.Backend, h backend.Handle) []byte {
	t.Helper()
	b, err := backend.LoadAll(context.Background(), be, h)
	if err != nil {
		t.Fatalf("Load %v: %v", h, err)
	}
	return b
}

func mustEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d bytes (contents differ)", what, len(got), len(want))
	}
}

func list(t *testing.T, be backend.Backend, ft backend.FileType) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := be.List(context.Background(), ft, func(fi backend.FileInfo) error {
		if _, dup := m[fi.Name]; dup {
			t.Errorf("List %s: %q listed twice", ft, fi.Name)
		}
		m[fi.Name] = fi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List %s: %v", ft, err)
	}
	return m
}

func testCreate(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	create(t, be)
	// Create writes no marker itself, and may be repeated until one exists.
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.MarkerFile}); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Stat marker after Create: %v, want ErrNotFound", err)
	}
	create(t, be)
	save(t, be, backend.Handle{Type: backend.MarkerFile}, []byte("immich-vault repository\n"))
	if err := be.Create(ctx); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("Create over a marker: %v, want ErrExists", err)
	}
	if be.Location() == "" {
		t.Error("Location is empty")
	}
	if p := be.Properties(); p.Connections < 1 {
		t.Errorf("Properties().Connections = %d, want >= 1", p.Connections)
	}
}

func testSingletons(t *testing.T, be backend.Backend) {
	create(t, be)
	for _, tc := range []struct {
		ft   backend.FileType
		name string
	}{{backend.MarkerFile, backend.MarkerName}, {backend.ConfigFile, backend.ConfigName}} {
		data := []byte("contents of " + string(tc.ft))
		save(t, be, backend.Handle{Type: tc.ft, Name: "ignored"}, data)
		for _, n := range []string{"", "other", tc.name} {
			mustEqual(t, fmt.Sprintf("%s named %q", tc.ft, n), load(t, be, backend.Handle{Type: tc.ft, Name: n}), data)
		}
		err := be.Save(context.Background(), backend.Handle{Type: tc.ft}, backend.NewByteReader([]byte("x")))
		if !errors.Is(err, backend.ErrExists) {
			t.Fatalf("second Save of %s: %v, want ErrExists", tc.ft, err)
		}
		got := list(t, be, tc.ft)
		if len(got) != 1 || got[tc.name] != int64(len(data)) {
			t.Fatalf("List %s = %v, want {%s: %d}", tc.ft, got, tc.name, len(data))
		}
	}
}

func testSaveLoad(t *testing.T, be backend.Backend) {
	create(t, be)
	for i, n := range []int{0, 1, 1000, 1<<20 + 7} {
		h := backend.Handle{Type: backend.PackFile, Name: Name(uint64(i))}
		data := Data(uint64(i), n)
		save(t, be, h, data)
		mustEqual(t, fmt.Sprintf("load %d bytes", n), load(t, be, h), data)
	}
	for i, ft := range []backend.FileType{backend.KeyFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile} {
		h := backend.Handle{Type: ft, Name: Name(uint64(100 + i))}
		data := Data(uint64(100+i), 100+i)
		save(t, be, h, data)
		mustEqual(t, "load "+string(ft), load(t, be, h), data)
	}
}

func testRanges(t *testing.T, be backend.Backend) {
	create(t, be)
	const size = 1000
	data := Data(7, size)
	h := backend.Handle{Type: backend.PackFile, Name: Name(7)}
	save(t, be, h, data)
	tests := []struct {
		name   string
		offset int64
		length int
		eof    bool // want an error wrapping io.ErrUnexpectedEOF
		bad    bool // want some error
	}{
		{name: "whole", offset: 0, length: 0},
		{name: "offset only", offset: 100, length: 0},
		{name: "length only", offset: 0, length: 100},
		{name: "both", offset: 100, length: 200},
		{name: "last byte", offset: size - 1, length: 1},
		{name: "exact tail", offset: 900, length: 100},
		{name: "at end", offset: size, length: 0},
		{name: "whole explicit", offset: 0, length: size},
		{name: "one past end", offset: size, length: 1, eof: true},
		{name: "straddles end", offset: 900, length: 200, eof: true},
		{name: "length too long", offset: 0, length: size + 1, eof: true},
		{name: "offset past end", offset: size + 1, length: 0, eof: true},
		{name: "negative offset", offset: -1, length: 0, bad: true},
		{name: "negative length", offset: 0, length: -1, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			called := false
			err := be.Load(context.Background(), h, tc.length, tc.offset, func(rd io.Reader) error {
				called = true
				var err error
				got, err = io.ReadAll(rd)
				return err
			})
			if tc.eof || tc.bad {
				if err == nil {
					t.Fatalf("Load(off %d, len %d) = nil error, got %d bytes; want an error", tc.offset, tc.length, len(got))
				}
				if tc.eof && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("Load(off %d, len %d) = %v, want io.ErrUnexpectedEOF", tc.offset, tc.length, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(off %d, len %d): %v", tc.offset, tc.length, err)
			}
			if !called {
				t.Fatal("fn not called")
			}
			end := int64(size)
			if tc.length > 0 {
				end = tc.offset + int64(tc.length)
			}
			mustEqual(t, "range", got, data[tc.offset:end])
		})
	}
}

func testStat(t *testing.T, be backend.Backend) {
	create(t, be)
	for i, n := range []int{0, 1, 4097} {
		h := backend.Handle{Type: backend.IndexFile, Name: Name(uint64(i))}
		save(t, be, h, Data(uint64(i), n))
		fi, err := be.Stat(context.Background(), h)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if fi.Size != int64(n) || fi.Name != h.Name {
			t.Fatalf("Stat = %+v, want {%s %d}", fi, h.Name, n)
		}
	}
}

func testList(t *testing.T, be backend.Backend) {
	create(t, be)
	want := map[backend.FileType]map[string]int64{
		backend.PackFile:     {},
		backend.IndexFile:    {},
		backend.SnapshotFile: {},
	}
	counts := map[backend.FileType]int{backend.PackFile: 5, backend.IndexFile: 2, backend.SnapshotFile: 1}
	seed := uint64(1)
	for ft, n := range counts {
		for range n {
			seed++
			h := backend.Handle{Type: ft, Name: Name(seed)}
			if ft == backend.PackFile {
				// Spread over several data/xx prefixes.
				h.Name = fmt.Sprintf("%02x", seed*37%256) + h.Name[2:]
			}
			data := Data(seed, int(seed*10))
			save(t, be, h, data)
			want[ft][h.Name] = int64(len(data))
		}
	}
	for ft, w := range want {
		got := list(t, be, ft)
		if !equalMaps(got, w) {
			t.Errorf("List %s = %v, want %v", ft, got, w)
		}
	}
	for _, ft := range []backend.FileType{backend.KeyFile, backend.LockFile, backend.MarkerFile, backend.ConfigFile} {
		if got := list(t, be, ft); len(got) != 0 {
			t.Errorf("List %s = %v, want nothing", ft, got)
		}
	}
}

func equalMaps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testNoOverwrite(t *testing.T, be backend.Backend) {
	create(t, be)
	for _, ft := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.LockFile} {
		h := backend.Handle{Type: ft, Name: Name(3)}
		orig := Data(3, 500)
		save(t, be, h, orig)
		for _, other := range [][]byte{Data(4, 500), Data(5, 10), orig, nil} {
			err := be.Save(context.Background(), h, backend.NewByteReader(other))
			if !errors.Is(err, backend.ErrExists) {
				t.Fatalf("Save over existing %v: %v, want ErrExists", h, err)
			}
		}
		mustEqual(t, "original after refused overwrite", load(t, be, h), orig)
		if got := list(t, be, ft); len(got) != 1 {
			t.Fatalf("List %s after refused overwrites = %v, want one file", ft, got)
		}
	}
}

func testConcurrentSameName(t *testing.T, be backend.Backend) {
	create(t, be)
	const n = 10
	h := backend.Handle{Type: backend.PackFile, Name: Name(11)}
	var wg sync.WaitGroup
	errs := make([]error, n)
	contents := make([][]byte, n)
	for i := range n {
		contents[i] = Data(uint64(1000+i), 64<<10)
		wg.Go(func() {
			errs[i] = be.Save(context.Background(), h, backend.NewByteReader(contents[i]))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Saves %d and %d of the same name both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, backend.ErrExists):
			t.Fatalf("Save %d: %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no Save succeeded")
	}
	mustEqual(t, "winner's content", load(t, be, h), contents[winner])
}

func testRemove(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	create(t, be)
	h := backend.Handle{Type: backend.SnapshotFile, Name: Name(9)}
	keep := backend.Handle{Type: backend.SnapshotFile, Name: Name(10)}
	save(t, be, h, []byte("gone soon"))
	save(t, be, keep, []byte("stays"))
	if err := be.Remove(ctx, h); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	checkMissing(t, be, h)
	if got := list(t, be, backend.SnapshotFile); len(got) != 1 || got[keep.Name] != 5 {
		t.Fatalf("List after Remove = %v, want only %s", got, keep.Name)
	}
	// The name is free again.
	save(t, be, h, []byte("again"))
	mustEqual(t, "saved after remove", load(t, be, h), []byte("again"))
}

func checkMissing(t *testing.T, be backend.Backend, h backend.Handle) {
	t.Helper()
	ctx := context.Background()
	called := false
	err := be.Load(ctx, h, 0, 0, func(io.Reader) error { called = true; return nil })
	if !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load of missing %v: %v, want ErrNotFound", h, err)
	}
	if called {
		t.Errorf("Load of missing %v called fn", h)
	}
	if _, err := be.Stat(ctx, h); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Stat of missing %v: %v, want ErrNotFound", h, err)
	}
	if err := be.Remove(ctx, h); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Remove of missing %v: %v, want ErrNotFound", h, err)
	}
}

func testMissing(t *testing.T, be backend.Backend) {
	create(t, be)
	for _, ft := range backend.FileTypes {
		checkMissing(t, be, backend.Handle{Type: ft, Name: Name(42)})
	}
}

func testListStops(t *testing.T, be backend.Backend) {
	create(t, be)
	for i := range 5 {
		save(t, be, backend.Handle{Type: backend.PackFile, Name: Name(uint64(i))}, []byte{byte(i)})
	}
	stop := errors.New("stop here")
	calls := 0
	err := be.List(context.Background(), backend.PackFile, func(backend.FileInfo) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List = %v, want fn's error", err)
	}
	if calls != 1 {
		t.Fatalf("fn called %d times after returning an error, want 1", calls)
	}
}

func testConcurrentSaves(t *testing.T, be backend.Backend) {
	create(t, be)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			h := backend.Handle{Type: backend.PackFile, Name: Name(uint64(i))}
			errs[i] = be.Save(context.Background(), h, backend.NewByteReader(Data(uint64(i), 10000+i)))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
	}
	got := list(t, be, backend.PackFile)
	if len(got) != n {
		t.Fatalf("List found %d files, want %d", len(got), n)
	}
	for i := range n {
		h := backend.Handle{Type: backend.PackFile, Name: Name(uint64(i))}
		mustEqual(t, h.Name, load(t, be, h), Data(uint64(i), 10000+i))
	}
}

func testLoadFnError(t *testing.T, be backend.Backend) {
	create(t, be)
	h := backend.Handle{Type: backend.IndexFile, Name: Name(1)}
	save(t, be, h, []byte("data"))
	boom := errors.New("fn failed")
	err := be.Load(context.Background(), h, 0, 0, func(io.Reader) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Load = %v, want fn's error", err)
	}
}

func testCanceled(t *testing.T, be backend.Backend) {
	create(t, be)
	h := backend.Handle{Type: backend.PackFile, Name: Name(1)}
	save(t, be, h, []byte("present"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with canceled ctx: %v, want context.Canceled", op, err)
		}
	}
	nh := backend.Handle{Type: backend.PackFile, Name: Name(2)}
	check("Save", be.Save(ctx, nh, backend.NewByteReader([]byte("new"))))
	check("Load", be.Load(ctx, h, 0, 0, func(io.Reader) error { return nil }))
	_, err := be.Stat(ctx, h)
	check("Stat", err)
	check("List", be.List(ctx, backend.PackFile, func(backend.FileInfo) error { return nil }))
	check("Remove", be.Remove(ctx, h))
	// Nothing happened.
	if _, err := be.Stat(context.Background(), nh); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("canceled Save stored a file: Stat = %v", err)
	}
	mustEqual(t, "after canceled Remove", load(t, be, h), []byte("present"))
}

// failingReader fails the first pass with errRead after half of the data
// and counts rewinds; later passes succeed.
type failingReader struct {
	data    []byte
	off     int
	rewinds int
}

var errRead = errors.New("backendtest: injected read error")

func (r *failingReader) Read(p []byte) (int, error) {
	limit := len(r.data)
	if r.rewinds == 0 {
		limit /= 2
	}
	if r.off >= limit {
		if r.rewinds == 0 {
			return 0, errRead
		}
		return 0, io.EOF
	}
	n := copy(p, r.data[r.off:limit])
	r.off += n
	return n, nil
}

func (r *failingReader) Rewind() error { r.off = 0; r.rewinds++; return nil }
func (r *failingReader) Length() int64 { return int64(len(r.data)) }

// testFailingReader: a reader that fails mid-way. A backend without retries
// must fail and store nothing; a retrying one must rewind and store all.
func testFailingReader(t *testing.T, be backend.Backend) {
	create(t, be)
	h := backend.Handle{Type: backend.PackFile, Name: Name(5)}
	rd := &failingReader{data: Data(5, 300<<10)}
	err := be.Save(context.Background(), h, rd)
	if err != nil {
		checkMissing(t, be, h)
		if got := list(t, be, backend.PackFile); len(got) != 0 {
			t.Fatalf("failed Save left files: %v", got)
		}
		return
	}
	if rd.rewinds == 0 {
		t.Fatal("Save succeeded without rewinding a reader that failed")
	}
	mustEqual(t, "after retried Save", load(t, be, h), rd.data)
}

// lyingReader announces a length different from what it delivers.
type lyingReader struct {
	backend.RewindReader
	length int64
}

func (r lyingReader) Length() int64 { return r.length }

func testWrongLength(t *testing.T, be backend.Backend) {
	create(t, be)
	data := Data(6, 1000)
	for i, n := range []int64{999, 1001, 0} {
		h := backend.Handle{Type: backend.PackFile, Name: Name(uint64(60 + i))}
		err := be.Save(context.Background(), h, lyingReader{backend.NewByteReader(data), n})
		if err == nil {
			t.Fatalf("Save with Length %d of %d bytes succeeded", n, len(data))
		}
		if _, err := be.Stat(context.Background(), h); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("Save with wrong length left a file: Stat = %v", err)
		}
	}
}

func testInvalidHandle(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	create(t, be)
	for _, h := range []backend.Handle{
		{Type: backend.PackFile, Name: ""},
		{Type: backend.PackFile, Name: "x"},
		{Type: backend.PackFile, Name: "zz" + Name(1)},
		{Type: backend.IndexFile, Name: "../config"},
		{Type: backend.IndexFile, Name: ".."},
		{Type: backend.IndexFile, Name: ".tmp-abc"},
		{Type: backend.KeyFile, Name: "a/b"},
		{Type: backend.LockFile, Name: "a\x00b"},
		{Type: "bogus", Name: Name(1)},
	} {
		if err := be.Save(ctx, h, backend.NewByteReader([]byte("x"))); !errors.Is(err, backend.ErrInvalidHandle) {
			t.Errorf("Save %q: %v, want ErrInvalidHandle", h, err)
		}
		if _, err := be.Stat(ctx, h); !errors.Is(err, backend.ErrInvalidHandle) {
			t.Errorf("Stat %q: %v, want ErrInvalidHandle", h, err)
		}
		if err := be.Remove(ctx, h); !errors.Is(err, backend.ErrInvalidHandle) {
			t.Errorf("Remove %q: %v, want ErrInvalidHandle", h, err)
		}
	}
	if err := be.List(ctx, "bogus", func(backend.FileInfo) error { return nil }); !errors.Is(err, backend.ErrInvalidHandle) {
		t.Errorf("List of unknown type: %v, want ErrInvalidHandle", err)
	}
}

func testLarge(t *testing.T, be backend.Backend) {
	create(t, be)
	const n = 20 << 20
	data := Data(20, n)
	h := backend.Handle{Type: backend.PackFile, Name: Name(20)}
	save(t, be, h, data)
	mustEqual(t, "20 MiB round trip", load(t, be, h), data)
	var got []byte
	err := be.Load(context.Background(), h, 1<<20, 7<<20+3, func(rd io.Reader) error {
		var err error
		got, err = io.ReadAll(rd)
		return err
	})
	if err != nil {
		t.Fatalf("ranged Load: %v", err)
	}
	mustEqual(t, "range of large file", got, data[7<<20+3:8<<20+3])
	if names := list(t, be, backend.PackFile); len(names) != 1 || names[h.Name] != n {
		t.Fatalf("List = %v, want {%s: %d}", names, h.Name, n)
	}
}
