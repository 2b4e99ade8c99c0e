package index

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
)

// Sorter sorts fixed-size records on disk (an external sort), so that sets
// of any size (every blob of the repository, every blob a snapshot uses)
// cost a bounded amount of memory. Records are appended to one of
// sorterFanout partition files by their first key byte; each partition
// (the keys are hashes: partitions are even) is then sorted in memory in
// turn, and one larger than sorterMaxPartition is first split by its next
// key byte. Keys compare as bytes: callers encode numbers big-endian.
//
// Memory: sorterFanout write buffers (sorterBufSize each) while adding, one
// partition (at most sorterMaxPartition bytes plus 16 bytes per record)
// while reading. Not safe for concurrent use.
type Sorter struct {
	dir      string
	rec, key int
	parts    []*os.File
	bufs     []*bufio.Writer
	n        int64
	buf      []byte // reused partition buffer
}

const (
	sorterFanout  = 64
	sorterBufSize = 32 << 10
)

// sorterMaxPartition is the largest partition sorted in memory. A variable
// for tests.
var sorterMaxPartition = 32 << 20

// NewSorter returns a sorter of records of recSize bytes whose first
// keySize bytes are the sort key, keeping its files in a new directory
// under dir (the system's temporary directory if dir is empty).
func NewSorter(dir string, recSize, keySize int) (*Sorter, error) {
	if keySize < 1 || keySize > recSize {
		panic("index: NewSorter: bad key size")
	}
	d, err := os.MkdirTemp(dir, "sort-")
	if err != nil {
		return nil, fmt.Errorf("sorter: %w", err)
	}
	return &Sorter{dir: d, rec: recSize, key: keySize}, nil
}

// Len returns the number of records added.
func (s *Sorter) Len() int64 { return s.n }

func (s *Sorter) partition(i int) (*bufio.Writer, error) {
	if s.parts == nil {
		s.parts = make([]*os.File, sorterFanout)
		s.bufs = make([]*bufio.Writer, sorterFanout)
	}
	if s.bufs[i] == nil {
		f, err := os.CreateTemp(s.dir, "p-")
		if err != nil {
			return nil, fmt.Errorf("sorter: %w", err)
		}
		s.parts[i], s.bufs[i] = f, bufio.NewWriterSize(f, sorterBufSize)
	}
	return s.bufs[i], nil
}

// Add appends one record (len(r) must be the record size; r is copied).
func (s *Sorter) Add(r []byte) error {
	if len(r) != s.rec {
		panic("index: Sorter.Add: wrong record size")
	}
	w, err := s.partition(int(r[0]) * sorterFanout / 256)
	if err != nil {
		return err
	}
	if _, err := w.Write(r); err != nil {
		return fmt.Errorf("sorter: %w", err)
	}
	s.n++
	return nil
}

// Sorted calls fn for every record in key order (records with equal keys
// in the order of their remaining bytes). fn must not keep r. Sorted may
// be called once; Close removes the files.
func (s *Sorter) Sorted(fn func(r []byte) error) error {
	for i, w := range s.bufs {
		if w == nil {
			continue
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("sorter: %w", err)
		}
		s.bufs[i] = nil
	}
	for _, f := range s.parts {
		if f == nil {
			continue
		}
		if err := s.sortFile(f, 0, fn); err != nil {
			return err
		}
	}
	return nil
}

// sortRef is a record of the partition being sorted: 8 key bytes from
// keyByte on as a number, and the record's offset.
type sortRef struct {
	k   uint64
	off uint32
}

func (s *Sorter) sortFile(f *os.File, keyByte int, fn func([]byte) error) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sorter: %w", err)
	}
	size := st.Size()
	if size > int64(sorterMaxPartition) && keyByte < s.key {
		return s.split(f, keyByte, fn)
	}
	if int64(cap(s.buf)) < size {
		s.buf = make([]byte, size)
	}
	b := s.buf[:size]
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return fmt.Errorf("sorter: %w", err)
	}
	n := int(size) / s.rec
	refs := make([]sortRef, n)
	var k [8]byte
	for i := range refs {
		off := i * s.rec
		clear(k[:])
		if keyByte < s.rec {
			copy(k[:], b[off+keyByte:off+s.rec])
		}
		refs[i] = sortRef{k: binary.BigEndian.Uint64(k[:]), off: uint32(off)}
	}
	slices.SortFunc(refs, func(x, y sortRef) int {
		if x.k != y.k {
			if x.k < y.k {
				return -1
			}
			return 1
		}
		return bytes.Compare(b[x.off:int(x.off)+s.rec], b[y.off:int(y.off)+s.rec])
	})
	for _, r := range refs {
		if err := fn(b[r.off : int(r.off)+s.rec]); err != nil {
			return err
		}
	}
	return nil
}

// split spreads f's records over 256 files by key byte keyByte and sorts
// those in turn.
func (s *Sorter) split(f *os.File, keyByte int, fn func([]byte) error) error {
	var subs [256]*os.File
	var ws [256]*bufio.Writer
	defer func() {
		for _, sf := range subs {
			if sf != nil {
				sf.Close()
				os.Remove(sf.Name())
			}
		}
	}()
	rd := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 1<<20)
	r := make([]byte, s.rec)
	for {
		if _, err := io.ReadFull(rd, r); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("sorter: %w", err)
		}
		i := r[keyByte]
		if ws[i] == nil {
			sf, err := os.CreateTemp(s.dir, "s-")
			if err != nil {
				return fmt.Errorf("sorter: %w", err)
			}
			subs[i], ws[i] = sf, bufio.NewWriterSize(sf, 16<<10)
		}
		if _, err := ws[i].Write(r); err != nil {
			return fmt.Errorf("sorter: %w", err)
		}
	}
	for i, w := range ws {
		if w == nil {
			continue
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("sorter: %w", err)
		}
		if err := s.sortFile(subs[i], keyByte+1, fn); err != nil {
			return err
		}
	}
	return nil
}

// Close removes the sorter's files.
func (s *Sorter) Close() error {
	for _, f := range s.parts {
		if f != nil {
			f.Close()
		}
	}
	s.parts, s.bufs, s.buf = nil, nil, nil
	return os.RemoveAll(s.dir)
}
