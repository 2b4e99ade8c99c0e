package index

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/immich-vault/immich-vault/pack"
)

// RunSet is a growing set of blob handles kept on disk: every Add writes
// one sorted run file (the entries of one index file), and Has looks a
// handle up in the runs. It answers "stored by this process since it
// started" for a writer that does not feed the cache blob by blob (copy:
// the cache learns the copied blobs in key order at the end, see
// Cache.BulkMerge), which is what keeps Badger's compactions out of a
// copy of millions of blobs (issue 13).
//
// Memory per handle: a Bloom filter of runSetBloomBits bits and a sparse
// index of one key per runSetBlock handles (about 1.5 bytes a handle in
// all, 13 MiB at 9 M). A lookup reads the runs whose filter may hold the
// handle: one pread of at most runSetBlock × 33 bytes each, and about one
// run in a hundred answers "maybe" for a handle it lacks.
//
// Safe for concurrent use.
type RunSet struct {
	dir  string
	seed maphash.Seed

	// global is a blocked Bloom filter of every handle added, sized for
	// the capacity given to NewRunSet (nil: none): one cache line read
	// answers "absent" for most handles, where the runs' own filters cost
	// a cache miss each (90 runs at 9 M). Only its "maybe" reads them.
	global []uint64

	mu   sync.RWMutex
	runs []*run
	n    int64
	buf  []byte // scratch for Add, under mu
}

const (
	runSetKey       = 1 + idSize // type ‖ ID
	runSetBlock     = 128        // handles per sparse-index entry
	runSetBloomBits = 10         // per handle
	runSetHashes    = 7
)

type run struct {
	f      *os.File
	n      int
	sparse []byte // every runSetBlock-th key
	bloom  []uint64
	bits   uint64
}

// NewRunSet creates an empty set whose run files live in a new directory
// under dir (removed by Close). capacity is the number of handles expected
// (an upper bound: copy passes the source's blob count), for the global
// filter: runSetGlobalBits a handle, at most runSetGlobalMax bytes; 0: no
// global filter.
func NewRunSet(dir string, capacity int64) (*RunSet, error) {
	d, err := os.MkdirTemp(dir, "runset-")
	if err != nil {
		return nil, fmt.Errorf("run set: %w", err)
	}
	s := &RunSet{dir: d, seed: maphash.MakeSeed()}
	if capacity > 0 {
		words := min(capacity*runSetGlobalBits/64, runSetGlobalMax/8)
		words = max(words/8, 1) * 8 // whole 512-bit blocks
		s.global = make([]uint64, words)
	}
	return s, nil
}

// The global filter: blocks of 512 bits (one cache line), 6 bits set per
// handle within its block (about 2 % false positives at 10 bits a handle).
const (
	runSetGlobalBits   = 10
	runSetGlobalMax    = 64 << 20
	runSetGlobalHashes = 6
)

func (s *RunSet) globalBits(h1, h2 uint64, fn func(word int, bit uint64) bool) bool {
	blocks := uint64(len(s.global) / 8)
	// The block from a remix of h1 (splitmix64's finaliser), the bits
	// within it from h1's own bits.
	m := (h1 ^ h1>>30) * 0xbf58476d1ce4e5b9
	m = (m ^ m>>27) * 0x94d049bb133111eb
	base := int(((m ^ m>>31) % blocks) * 8)
	for j := range uint64(runSetGlobalHashes) {
		b := (h1 >> (j * 9)) & 511
		if !fn(base+int(b/64), 1<<(b%64)) {
			return false
		}
	}
	return true
}

// Len returns the number of handles added (duplicates counted).
func (s *RunSet) Len() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.n
}

func (s *RunSet) hash(k []byte) (uint64, uint64) {
	h1 := maphash.Bytes(s.seed, k)
	h2 := h1>>33 | h1<<31 | 1
	return h1, h2
}

// AddFile adds every blob of f as one run.
func (s *RunSet) AddFile(f *File) error {
	n := 0
	for _, p := range f.Packs {
		n += len(p.Entries)
	}
	if n == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(s.buf) < n*runSetKey {
		s.buf = make([]byte, n*runSetKey)
	}
	b := s.buf[:n*runSetKey]
	i := 0
	for _, p := range f.Packs {
		for _, e := range p.Entries {
			k := b[i*runSetKey:][:runSetKey]
			k[0] = byte(e.Type)
			copy(k[1:], e.ID[:])
			i++
		}
	}
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = b[i*runSetKey:][:runSetKey]
	}
	slices.SortFunc(keys, bytes.Compare)
	r := &run{n: n, bits: uint64(max(n*runSetBloomBits, 64))}
	r.bloom = make([]uint64, (r.bits+63)/64)
	out := make([]byte, 0, n*runSetKey)
	for i, k := range keys {
		if i%runSetBlock == 0 {
			r.sparse = append(r.sparse, k...)
		}
		out = append(out, k...)
		h1, h2 := s.hash(k)
		if s.global != nil {
			s.globalBits(h1, h2, func(w int, bit uint64) bool { s.global[w] |= bit; return true })
		}
		for j := range uint64(runSetHashes) {
			bit := (h1 + j*h2) % r.bits
			r.bloom[bit/64] |= 1 << (bit % 64)
		}
	}
	file, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("r%06d", len(s.runs))))
	if err != nil {
		return fmt.Errorf("run set: %w", err)
	}
	if _, err := file.Write(out); err != nil {
		file.Close()
		return fmt.Errorf("run set: %w", err)
	}
	r.f = file
	s.runs = append(s.runs, r)
	s.n += int64(n)
	return nil
}

// Has reports whether h was added.
func (s *RunSet) Has(h pack.BlobHandle) (bool, error) {
	var k [runSetKey]byte
	k[0] = byte(h.Type)
	copy(k[1:], h.ID[:])
	h1, h2 := s.hash(k[:])
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.global != nil && !s.globalBits(h1, h2, func(w int, bit uint64) bool { return s.global[w]&bit != 0 }) {
		return false, nil
	}
	var blk [runSetBlock * runSetKey]byte
	for _, r := range s.runs {
		if !r.mayHave(h1, h2) {
			continue
		}
		ok, err := r.find(k[:], blk[:])
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (r *run) mayHave(h1, h2 uint64) bool {
	for j := range uint64(runSetHashes) {
		bit := (h1 + j*h2) % r.bits
		if r.bloom[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// find looks k up in the run: the sparse index names the block, one pread
// reads it.
func (r *run) find(k, blk []byte) (bool, error) {
	nb := len(r.sparse) / runSetKey
	// The last block whose first key is <= k.
	lo, hi := 0, nb
	for lo < hi {
		m := (lo + hi) / 2
		if bytes.Compare(r.sparse[m*runSetKey:][:runSetKey], k) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return false, nil
	}
	b := lo - 1
	cnt := min(runSetBlock, r.n-b*runSetBlock)
	buf := blk[:cnt*runSetKey]
	if _, err := r.f.ReadAt(buf, int64(b*runSetBlock*runSetKey)); err != nil {
		return false, fmt.Errorf("run set: %w", err)
	}
	lo, hi = 0, cnt
	for lo < hi {
		m := (lo + hi) / 2
		c := bytes.Compare(buf[m*runSetKey:][:runSetKey], k)
		if c == 0 {
			return true, nil
		}
		if c < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return false, nil
}

// Close removes the run files.
func (s *RunSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		r.f.Close()
	}
	s.runs = nil
	return os.RemoveAll(s.dir)
}
