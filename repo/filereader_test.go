package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/faulty"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/data"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// sqlLike returns n bytes of a seeded mix of compressible SQL-like lines
// and incompressible random runs, so both decoding paths (zstd and stored)
// are read back.
func sqlLike(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	for b.Len() < n {
		if rng.IntN(8) == 0 {
			r := make([]byte, 1+rng.IntN(40<<10))
			for i := range r {
				r[i] = byte(rng.Uint32())
			}
			b.Write(r)
			continue
		}
		fmt.Fprintf(&b, "%d\t%08x-%04x\tIMG_%05d.jpg\t2024-%02d-%02d %02d:%02d:00+00\t%d\n",
			rng.Uint64(), rng.Uint32(), rng.IntN(1<<16), rng.IntN(100000), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.Int64())
	}
	return b.Bytes()[:n]
}

type readerFixture struct {
	r     *repo.Repository
	be    *faulty.Faulty
	dir   string // local backend directory ("" for mem)
	sn    *repo.Snapshot
	files map[string][]byte
}

// newReaderFixture backs up files (as stdin-like streams, small-chunk
// profile) into a repository with 1 MiB packs on be (mem when nil).
func newReaderFixture(t *testing.T, files map[string][]byte, packSize int, onLocal bool) *readerFixture {
	t.Helper()
	fx := &readerFixture{files: files}
	var inner backend.Backend = mem.New()
	if onLocal {
		fx.dir = t.TempDir()
		l, err := local.Open(fx.dir)
		if err != nil {
			t.Fatal(err)
		}
		inner = l
	}
	fx.be = faulty.New(inner)
	opts := repotest.Options(t)
	opts.PackSize = packSize
	fx.r = repotest.InitIn(t, fx.be, opts)
	var streams []archiver.Stream
	for p, b := range files {
		streams = append(streams, archiver.Stream{Path: p, Reader: bytes.NewReader(b)})
	}
	fx.sn = repotest.Backup(t, fx.r, archiver.BackupOptions{Streams: streams})
	return fx
}

func (fx *readerFixture) node(t *testing.T, p string) *data.Node {
	t.Helper()
	n, err := fx.r.FindNode(context.Background(), fx.sn, p)
	if err != nil {
		t.Fatalf("FindNode %s: %v", p, err)
	}
	return n
}

// packsOf returns the distinct packs holding n's blobs.
func (fx *readerFixture) packsOf(t *testing.T, n *data.Node) map[repo.ID]bool {
	t.Helper()
	packs := map[repo.ID]bool{}
	for _, id := range n.Content {
		loc, ok, err := fx.r.Cache().Lookup(context.Background(), blobHandle(id))
		if err != nil || !ok {
			t.Fatalf("lookup %s: %v %v", id.Short(), ok, err)
		}
		packs[loc.Pack] = true
	}
	return packs
}

// readAllSmall reads rd with an odd-sized buffer (Read, not WriteTo).
func readAllSmall(rd io.Reader) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 7919)
	for {
		n, err := rd.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

func TestFileReaderContent(t *testing.T) {
	big := sqlLike(5<<20, 1)
	shared := append(append([]byte{}, big[:2<<20]...), sqlLike(1<<20, 2)...) // blobs shared with /big
	repeated := bytes.Repeat(big[:300<<10], 6)                               // the same blobs again and again
	files := map[string][]byte{
		"/empty":    {},
		"/one":      []byte("a single small blob\n"),
		"/big":      big,
		"/shared":   shared,
		"/repeated": repeated,
		"/zeros":    make([]byte, 3<<20),
	}
	fx := newReaderFixture(t, files, 1<<20, false)
	if n := fx.node(t, "/big"); len(n.Content) < 100 || len(fx.packsOf(t, n)) < 3 {
		t.Fatalf("/big: %d blobs in %d packs, want many blobs across several packs", len(n.Content), len(fx.packsOf(t, n)))
	}
	if n := fx.node(t, "/one"); len(n.Content) != 1 {
		t.Fatalf("/one has %d blobs, want 1", len(n.Content))
	}
	ctx := context.Background()
	for _, o := range []repo.FileReaderOptions{
		{},
		{ReadAhead: 1, Requests: 1},         // smaller than any blob: one at a time
		{ReadAhead: 200 << 10, Requests: 3}, // several small batches in flight
	} {
		for p, want := range files {
			n := fx.node(t, p)
			for _, how := range []string{"WriteTo", "Read"} {
				fr, err := fx.r.NewFileReader(ctx, n, o)
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				if how == "WriteTo" {
					var b bytes.Buffer
					var k int64
					k, err = fr.WriteTo(&b)
					got = b.Bytes()
					if k != int64(len(got)) {
						t.Errorf("%s %+v: WriteTo returned %d, wrote %d", p, o, k, len(got))
					}
				} else {
					got, err = readAllSmall(fr)
				}
				fr.Close()
				if err != nil {
					t.Fatalf("%s %+v %s: %v", p, o, how, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s %+v %s: %d bytes differ from the %d backed up", p, o, how, len(got), len(want))
				}
				if fr.Offset() != int64(len(want)) {
					t.Errorf("%s: Offset %d, want %d", p, fr.Offset(), len(want))
				}
			}
		}
	}
	// DumpFile is the same reader behind a reader lock.
	var b bytes.Buffer
	if err := fx.r.DumpFile(ctx, fx.node(t, "/shared"), &b); err != nil || !bytes.Equal(b.Bytes(), shared) {
		t.Fatalf("DumpFile: %v, %d bytes (want %d identical)", err, b.Len(), len(shared))
	}
}

// packLoads counts the range requests of pack files.
func packLoads(be *faulty.Faulty) *atomic.Int64 {
	var n atomic.Int64
	be.SetLoadWrap(func(h backend.Handle, rd io.Reader) io.Reader {
		if h.Type == backend.PackFile {
			n.Add(1)
		}
		return rd
	})
	return &n
}

// A file of N blobs in one pack costs O(1) requests, not N: before the
// FileReader, dump loaded one blob per request.
func TestDumpFileRequests(t *testing.T) {
	data := sqlLike(1<<20, 3)
	fx := newReaderFixture(t, map[string][]byte{"/db.sql": data}, 16<<20, false)
	n := fx.node(t, "/db.sql")
	if len(fx.packsOf(t, n)) != 1 || len(n.Content) < 30 {
		t.Fatalf("%d blobs in %d packs, want >= 30 in one", len(n.Content), len(fx.packsOf(t, n)))
	}
	loads := packLoads(fx.be)
	var b bytes.Buffer
	if err := fx.r.DumpFile(context.Background(), n, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), data) {
		t.Fatal("content differs")
	}
	if got := loads.Load(); got > 2 {
		t.Fatalf("dump of %d blobs in one pack made %d pack requests, want at most 2", len(n.Content), got)
	}
	t.Logf("%d blobs, %d pack request(s)", len(n.Content), loads.Load())
}

// Blobs of one file spread over several packs (parallel backup workers
// fill packs side by side) still cost about one request per pack, not
// one per blob.
func TestFileReaderRequestsAcrossPacks(t *testing.T) {
	data := sqlLike(6<<20, 4)
	fx := newReaderFixture(t, map[string][]byte{"/db.sql": data}, 1<<20, false)
	n := fx.node(t, "/db.sql")
	packs := len(fx.packsOf(t, n))
	loads := packLoads(fx.be)
	fr, err := fx.r.NewFileReader(context.Background(), n, repo.FileReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	got, err := io.ReadAll(fr)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v (%d bytes, want %d identical)", err, len(got), len(data))
	}
	// A pack can be cut by a batch boundary or by the request size.
	if max := 3 * packs; loads.Load() > int64(max) {
		t.Fatalf("%d blobs in %d packs: %d requests, want at most %d", len(n.Content), packs, loads.Load(), max)
	}
	t.Logf("%d blobs in %d packs: %d requests", len(n.Content), packs, loads.Load())
}

// corruptBlob flips a byte inside the sealed blob id in its pack file of
// a local repository in dir.
func corruptBlob(t *testing.T, r *repo.Repository, dir string, id repo.ID) {
	t.Helper()
	loc, ok, err := r.Cache().Lookup(context.Background(), blobHandle(id))
	if err != nil || !ok {
		t.Fatalf("lookup: %v %v", ok, err)
	}
	name := loc.Pack.String()
	p := filepath.Join(dir, "data", name[:2], name)
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	at := int64(loc.Offset) + int64(loc.Length)/2
	if _, err := f.ReadAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x55
	if _, err := f.WriteAt(b[:], at); err != nil {
		t.Fatal(err)
	}
}

func TestFileReaderDamagedBlob(t *testing.T) {
	data := sqlLike(3<<20, 5)
	fx := newReaderFixture(t, map[string][]byte{"/db.sql": data}, 1<<20, true)
	n := fx.node(t, "/db.sql")
	k := len(n.Content) * 2 / 3
	bad := n.Content[k]
	// The damaged blob's offset in the file: the sizes of the blobs before it.
	var off int64
	for _, id := range n.Content[:k] {
		loc, _, _ := fx.r.Cache().Lookup(context.Background(), blobHandle(id))
		off += int64(loc.RawLength)
	}
	corruptBlob(t, fx.r, fx.dir, bad)
	for _, how := range []string{"Read", "DumpFile"} {
		var got []byte
		var err error
		if how == "Read" {
			fr, ferr := fx.r.NewFileReader(context.Background(), n, repo.FileReaderOptions{})
			if ferr != nil {
				t.Fatal(ferr)
			}
			got, err = readAllSmall(fr)
			fr.Close()
		} else {
			var b bytes.Buffer
			err = fx.r.DumpFile(context.Background(), n, &b)
			got = b.Bytes()
		}
		var be *repo.BlobError
		if !errors.As(err, &be) || be.Handle.ID != bad || !errors.Is(err, pack.ErrCorrupt) {
			t.Fatalf("%s: error %v, want a BlobError for blob %s wrapping ErrCorrupt", how, err, bad.Short())
		}
		if msg := err.Error(); !strings.Contains(msg, bad.String()) || !strings.Contains(msg, fmt.Sprintf("file offset %d", off)) {
			t.Fatalf("%s: error %q does not name blob %s and offset %d", how, msg, bad, off)
		}
		// Everything before the damaged blob was returned, intact.
		if int64(len(got)) != off || !bytes.Equal(got, data[:off]) {
			t.Fatalf("%s: %d bytes before the error, want the %d intact bytes before the damaged blob", how, len(got), off)
		}
	}
}

// readerGoroutines lists the stacks of goroutines running FileReader code.
func readerGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "repo.(*FileReader)") {
			out = append(out, g)
		}
	}
	return out
}

// waitNoReaderGoroutines waits (generously: the machine may be loaded)
// until no FileReader goroutine is left.
func waitNoReaderGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := readerGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d FileReader goroutine(s) leaked:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFileReaderCancel(t *testing.T) {
	data := sqlLike(4<<20, 6)
	fx := newReaderFixture(t, map[string][]byte{"/db.sql": data}, 1<<20, false)
	n := fx.node(t, "/db.sql")
	waitNoReaderGoroutines(t)
	// Slow requests, so that the read-ahead is in flight when canceled.
	fx.be.SetDelay(20 * time.Millisecond)

	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		fr, err := fx.r.NewFileReader(ctx, n, repo.FileReaderOptions{Requests: 2})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1000)
		if _, err := io.ReadFull(fr, buf); err != nil || !bytes.Equal(buf, data[:1000]) {
			t.Fatalf("first read: %v", err)
		}
		cancel()
		// Drain: what was already decoded may still come, then the error.
		_, err = io.Copy(io.Discard, fr)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %v, want context.Canceled", err)
		}
		if _, err := fr.Read(buf); !errors.Is(err, context.Canceled) {
			t.Fatalf("read again: %v, want the same error", err)
		}
		fr.Close()
		waitNoReaderGoroutines(t)
	})
	t.Run("close", func(t *testing.T) {
		// A window of a few blobs: after the first Read the read-ahead
		// cannot have finished the 4 MiB file (it waits for the caller),
		// however fast or slow the machine is.
		fr, err := fx.r.NewFileReader(context.Background(), n, repo.FileReaderOptions{ReadAhead: 512 << 10, Requests: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fr.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		if len(readerGoroutines()) == 0 {
			t.Fatal("no read-ahead goroutine while reading: the test would prove nothing")
		}
		fr.Close()
		// Close waits for its goroutines: none may be left right away.
		if left := readerGoroutines(); len(left) > 0 {
			t.Fatalf("after Close, %d FileReader goroutine(s) still run:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		if _, err := fr.Read(make([]byte, 10)); err == nil {
			t.Fatal("Read after Close succeeded")
		}
	})
	t.Run("abandoned", func(t *testing.T) {
		// A caller that cancels its context and never calls Close leaks
		// nothing either.
		ctx, cancel := context.WithCancel(context.Background())
		fr, err := fx.r.NewFileReader(ctx, n, repo.FileReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fr.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		cancel()
		waitNoReaderGoroutines(t)
	})
}

// A blob missing from the index ends the read at its offset, with
// ErrBlobNotFound, after the bytes before it.
func TestFileReaderMissingBlob(t *testing.T) {
	data := sqlLike(2<<20, 8)
	fx := newReaderFixture(t, map[string][]byte{"/a": data}, 1<<20, false)
	n := fx.node(t, "/a")
	ids := append(append([]repo.ID{}, n.Content[:3]...), repo.ID{1, 2, 3})
	var off int64
	for _, id := range n.Content[:3] {
		loc, _, _ := fx.r.Cache().Lookup(context.Background(), blobHandle(id))
		off += int64(loc.RawLength)
	}
	fr := fx.r.NewContentReader(context.Background(), ids, repo.FileReaderOptions{})
	defer fr.Close()
	got, err := io.ReadAll(fr)
	if !errors.Is(err, repo.ErrBlobNotFound) || !strings.Contains(err.Error(), fmt.Sprintf("file offset %d", off)) {
		t.Fatalf("error %v, want ErrBlobNotFound at offset %d", err, off)
	}
	if !bytes.Equal(got, data[:off]) {
		t.Fatalf("%d bytes before the error, want %d", len(got), off)
	}
}

func TestFindNode(t *testing.T) {
	fx := newReaderFixture(t, map[string][]byte{"/d/e/f.sql": []byte("x"), "/top": []byte("y")}, 1<<20, false)
	ctx := context.Background()
	for _, p := range []string{"/", "", "/d/..", "."} {
		if n, err := fx.r.FindNode(ctx, fx.sn, p); err != nil || n != nil {
			t.Errorf("FindNode(%q) = %v, %v; want the root (nil, nil)", p, n, err)
		}
	}
	for _, p := range []string{"/d/e/f.sql", "d/e/f.sql", "/d/./e//f.sql"} {
		if n, err := fx.r.FindNode(ctx, fx.sn, p); err != nil || n.Type != data.NodeFile || n.FileName() != "f.sql" {
			t.Errorf("FindNode(%q) = %v, %v", p, n, err)
		}
	}
	if n, err := fx.r.FindNode(ctx, fx.sn, "/d/e"); err != nil || n.Type != data.NodeDir {
		t.Errorf("FindNode(/d/e) = %v, %v", n, err)
	}
	_, err := fx.r.FindNode(ctx, fx.sn, "/d/nope")
	if !errors.Is(err, data.ErrPathNotFound) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/d/nope") {
		t.Errorf("missing path: %v", err)
	}
	_, err = fx.r.FindNode(ctx, fx.sn, "/top/x")
	if !errors.Is(err, data.ErrNotADirectory) || !strings.Contains(err.Error(), "/top") {
		t.Errorf("path through a file: %v", err)
	}
}

// benchReaderFile backs up a 32 MiB SQL-like file of small blobs into an
// in-memory repository.
func benchReaderFile(b *testing.B) (*repo.Repository, *data.Node, int64) {
	data := sqlLike(32<<20, 9)
	r := repotest.InitIn(b, mem.New(), repotest.Options(b))
	sn, err := archiver.Backup(context.Background(), r, archiver.BackupOptions{Streams: []archiver.Stream{{Path: "/db.sql", Reader: bytes.NewReader(data)}}})
	if err != nil {
		b.Fatal(err)
	}
	n, err := r.FindNode(context.Background(), sn, "/db.sql")
	if err != nil {
		b.Fatal(err)
	}
	return r, n, int64(len(data))
}

// BenchmarkFileReader measures the reader's hot path (plan, fetch, decode,
// write out) on an in-memory backend.
func BenchmarkFileReader(b *testing.B) {
	r, n, size := benchReaderFile(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		fr, err := r.NewFileReader(context.Background(), n, repo.FileReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fr.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
		fr.Close()
	}
}

// BenchmarkFileReaderBlobByBlob is the reference: one LoadBlob per blob,
// in order, as dump and immich restore read before the FileReader.
func BenchmarkFileReaderBlobByBlob(b *testing.B) {
	r, n, size := benchReaderFile(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		var buf []byte
		var err error
		for _, id := range n.Content {
			if buf, err = r.LoadBlob(context.Background(), blobHandle(id), buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
