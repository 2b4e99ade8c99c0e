package index

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/immich-vault/immich-vault/pack"
)

// Table is the repository index as its index files state it, built for one
// maintenance run (check, prune, repair) by streaming every index file
// once, and kept on disk as sorted arrays of fixed-size records:
//
//   - packs: one record per indexed pack, sorted by pack ID (its ordinal
//     in this order names it elsewhere): the first index file listing it
//     (files are read in ID order; the first listing wins, as everywhere
//     else), where its entries are, their count and total length, and
//     where the list of every index file naming it is;
//   - entries: the winning listing's entries, grouped by pack ordinal;
//   - blobs: one record per (blob, pack) pair, sorted by blob ID, type and
//     pack ordinal: every pack holding a blob, next to each other;
//   - where: the index-file ordinals naming each pack.
//
// Why not Go maps (what prune, check and repair each built before): at
// 10 M blobs the maps of every blob and pack took 2 to 6 GiB. Why not the
// Badger cache: it holds one location per blob, lags behind other writers
// and leaves out condemned packs, while these commands need every pack
// holding a blob as the index files say; and loading a Badger database
// costs more than sorting flat records. Why not mmap: its pages count in
// the resident size and grow with the table. Lookups here read one block
// of records (tableBlock records) with pread after a binary search of a
// sparse in-memory index (one key per block, a few bytes per blob
// indexed); bulk questions (is every blob a snapshot uses indexed, which
// pack keeps each used blob) are merge joins of sorted streams (Sorter,
// BlobCursor), not point lookups.
//
// Memory is the Sorter's while building (a few MiB of buffers and one
// partition of at most 32 MiB), then the sparse indexes: about 0.3 bytes
// per blob and 0.5 per pack, plus 32 bytes per index file. Disk (the
// caller's directory, the repository's cache directory for package repo):
// about 100 bytes per blob for the table, and up to about 200 bytes per
// blob while it is built (2 GB at 10 M blobs), removed by Close.
type Table struct {
	dir     string
	files   []ID
	packs   *recFile
	blobs   *recFile
	entries *os.File
	where   *os.File
}

const (
	packRecSize  = 32 + 4 + 8 + 4 + 8 + 8 + 4 + 4 // id, first file, entry offset, count, bytes, where offset, where count, listing
	entRecSize   = 1 + 1 + 4 + 4 + 4 + 32         // type, compression, offset, length, raw length, id
	blobRecSize  = 32 + 1 + 4 + 1 + 4 + 4 + 4     // id, type, pack ordinal, compression, offset, length, raw length
	tblKeySize   = 33
	handleSize   = 33
	tableBlock   = 128
	listRecSize  = 32 + 4 + 4 + 4 + 8          // pack, file, listing, count, bytes
	stageRecSize = 32 + 4 + 4 + 4 + entRecSize // pack, file, listing, sequence, entry
	stageKeySize = 44
)

// PackInfo describes one indexed pack.
type PackInfo struct {
	ID      ID
	Ord     uint32 // ordinal in pack ID order
	Entries int    // entries of its (first) listing
	Bytes   int64  // their total length
	file    uint32
	listing uint32 // the first listing's position in its file
	entOff  int64
	whereAt int64
	whereN  uint32
}

// Holder is one pack holding a blob, with the blob's entry there.
type Holder struct {
	Pack  uint32 // pack ordinal
	Entry pack.Entry
}

// BuildTable reads every index file next yields (next returns io.EOF when
// done; files must come in ID order, so that the first listing of a pack
// wins as in every other reader) and builds their table in a new
// directory under tmpDir (the system's temporary directory if empty).
func BuildTable(ctx context.Context, tmpDir string, next func() (ID, *File, error)) (*Table, error) {
	return buildTable(ctx, tmpDir, next, false)
}

// BuildTableUnion is BuildTable keeping every listing of a pack: a pack's
// entries (PackEntries) are those of all its listings, in file order,
// duplicates included, and every one is a holder of its blob. For repair,
// which verifies every candidate entry.
func BuildTableUnion(ctx context.Context, tmpDir string, next func() (ID, *File, error)) (*Table, error) {
	return buildTable(ctx, tmpDir, next, true)
}

func buildTable(ctx context.Context, tmpDir string, next func() (ID, *File, error), union bool) (t *Table, err error) {
	dir, err := os.MkdirTemp(tmpDir, "immich-vault-table-")
	if err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	t = &Table{dir: dir}
	built := t // the error returns below set t to nil before this defer runs
	defer func() {
		if err != nil {
			built.Close()
			t = nil
		}
	}()
	lists, err := NewSorter(dir, listRecSize, listRecSize)
	if err != nil {
		return nil, err
	}
	defer lists.Close()
	stage, err := NewSorter(dir, stageRecSize, stageKeySize)
	if err != nil {
		return nil, err
	}
	defer stage.Close()
	var lr [listRecSize]byte
	var sr [stageRecSize]byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, f, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		fo := uint32(len(t.files))
		t.files = append(t.files, id)
		for li, p := range f.Packs {
			var sum int64
			for i, e := range p.Entries {
				sum += int64(e.Length)
				copy(sr[:32], p.Pack[:])
				binary.BigEndian.PutUint32(sr[32:], fo)
				binary.BigEndian.PutUint32(sr[36:], uint32(li))
				binary.BigEndian.PutUint32(sr[40:], uint32(i))
				putEntry(sr[44:], e)
				if err := stage.Add(sr[:]); err != nil {
					return nil, err
				}
			}
			copy(lr[:32], p.Pack[:])
			binary.BigEndian.PutUint32(lr[32:], fo)
			binary.BigEndian.PutUint32(lr[36:], uint32(li))
			binary.BigEndian.PutUint32(lr[40:], uint32(len(p.Entries)))
			binary.BigEndian.PutUint64(lr[44:], uint64(sum))
			if err := lists.Add(lr[:]); err != nil {
				return nil, err
			}
		}
	}
	// Packs (sorted by ID, then file): the first listing wins; every
	// listing's file goes to where.
	pw, err := newRecWriter(filepath.Join(dir, "packs"), packRecSize, 32)
	if err != nil {
		return nil, err
	}
	wf, err := os.Create(filepath.Join(dir, "where"))
	if err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	t.where = wf
	ww := bufio.NewWriterSize(wf, 64<<10)
	var cur PackInfo
	var have bool
	var entOff, whereAt int64
	var lastFile uint32
	var pr [packRecSize]byte
	emit := func() error {
		if !have {
			return nil
		}
		encodePackRec(pr[:], cur)
		entOff += int64(cur.Entries)
		return pw.add(pr[:])
	}
	err = lists.Sorted(func(r []byte) error {
		id := ID(r[:32])
		fo := binary.BigEndian.Uint32(r[32:])
		if !have || id != cur.ID {
			if err := emit(); err != nil {
				return err
			}
			cur = PackInfo{ID: id, Ord: uint32(pw.n), file: fo, listing: binary.BigEndian.Uint32(r[36:]), entOff: entOff, whereAt: whereAt,
				Entries: int(binary.BigEndian.Uint32(r[40:])), Bytes: int64(binary.BigEndian.Uint64(r[44:]))}
			have = true
		} else if union {
			cur.Entries += int(binary.BigEndian.Uint32(r[40:]))
			cur.Bytes += int64(binary.BigEndian.Uint64(r[44:]))
		}
		if have && cur.whereN > 0 && fo == lastFile {
			return nil // listed twice by one file: the file is named once
		}
		lastFile = fo
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], fo)
		if _, err := ww.Write(b[:]); err != nil {
			return err
		}
		cur.whereN++
		whereAt++
		return nil
	})
	if err == nil {
		err = emit()
	}
	if err == nil {
		err = ww.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	if t.packs, err = pw.finish(); err != nil {
		return nil, err
	}
	// Entries of the winning listings, by pack; blob records to sort.
	ef, err := os.Create(filepath.Join(dir, "entries"))
	if err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	t.entries = ef
	ew := bufio.NewWriterSize(ef, 64<<10)
	bs, err := NewSorter(dir, blobRecSize, blobRecSize)
	if err != nil {
		return nil, err
	}
	defer bs.Close()
	pc := t.packs.cursor()
	var br [blobRecSize]byte
	err = stage.Sorted(func(r []byte) error {
		id := ID(r[:32])
		fo := binary.BigEndian.Uint32(r[32:])
		rec, ok, err := pc.seek(id[:])
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("index table: pack of an entry not in the pack table")
		}
		pi := decodePackRec(rec, uint32(pc.i))
		if !union && (fo != pi.file || binary.BigEndian.Uint32(r[36:]) != pi.listing) {
			return nil // a later listing
		}
		if _, err := ew.Write(r[44:]); err != nil {
			return err
		}
		e := getEntry(r[44:])
		copy(br[:32], e.ID[:])
		br[32] = byte(e.Type)
		binary.BigEndian.PutUint32(br[33:], pi.Ord)
		copy(br[37:], r[45:58]) // compression, offset, length, raw length
		return bs.Add(br[:])
	})
	if err == nil {
		err = ew.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	stage.Close() // its disk, before the blob records are sorted
	bw, err := newRecWriter(filepath.Join(dir, "blobs"), blobRecSize, tblKeySize)
	if err != nil {
		return nil, err
	}
	if err := bs.Sorted(bw.add); err != nil {
		bw.f.Close()
		return nil, fmt.Errorf("index table: %w", err)
	}
	if t.blobs, err = bw.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

// Close removes the table's files.
func (t *Table) Close() error {
	for _, f := range []*os.File{t.entries, t.where} {
		if f != nil {
			f.Close()
		}
	}
	for _, r := range []*recFile{t.packs, t.blobs} {
		if r != nil {
			r.f.Close()
		}
	}
	return os.RemoveAll(t.dir)
}

// Files returns the index files read, in ID order (the caller must not
// modify the slice).
func (t *Table) Files() []ID { return t.files }

// NumPacks returns the number of indexed packs.
func (t *Table) NumPacks() int { return int(t.packs.n) }

// NumBlobs returns the number of (blob, pack) entries.
func (t *Table) NumBlobs() int64 { return t.blobs.n }

// Pack returns the pack of ordinal ord.
func (t *Table) Pack(ord uint32) (PackInfo, error) {
	b := make([]byte, packRecSize)
	if err := t.packs.at(int64(ord), b); err != nil {
		return PackInfo{}, err
	}
	return decodePackRec(b, ord), nil
}

// FindPack returns the pack id, if indexed.
func (t *Table) FindPack(id ID) (PackInfo, bool, error) {
	i, rec, err := t.packs.find(id[:])
	if err != nil || rec == nil {
		return PackInfo{}, false, err
	}
	return decodePackRec(rec, uint32(i)), true, nil
}

// ForEachPack calls fn for every pack in ordinal (ID) order.
func (t *Table) ForEachPack(fn func(PackInfo) error) error {
	rd := bufio.NewReaderSize(io.NewSectionReader(t.packs.f, 0, t.packs.n*packRecSize), 64<<10)
	b := make([]byte, packRecSize)
	for i := int64(0); i < t.packs.n; i++ {
		if _, err := io.ReadFull(rd, b); err != nil {
			return fmt.Errorf("index table: %w", err)
		}
		if err := fn(decodePackRec(b, uint32(i))); err != nil {
			return err
		}
	}
	return nil
}

// PackEntries returns the entries of p (as its first listing states them).
func (t *Table) PackEntries(p PackInfo) ([]pack.Entry, error) {
	b := make([]byte, p.Entries*entRecSize)
	if _, err := t.entries.ReadAt(b, p.entOff*entRecSize); err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	out := make([]pack.Entry, p.Entries)
	for i := range out {
		out[i] = getEntry(b[i*entRecSize:])
	}
	return out, nil
}

// PackFiles returns the index files listing p.
func (t *Table) PackFiles(p PackInfo) ([]ID, error) {
	b := make([]byte, 4*int(p.whereN))
	if _, err := t.where.ReadAt(b, p.whereAt*4); err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	out := make([]ID, p.whereN)
	for i := range out {
		out[i] = t.files[binary.BigEndian.Uint32(b[4*i:])]
	}
	return out, nil
}

// Lookup returns every pack holding h, in pack ordinal order.
func (t *Table) Lookup(h pack.BlobHandle) ([]Holder, error) {
	var k [tblKeySize]byte
	handleKey(k[:], h)
	bp := blockPool.Get().(*[]byte)
	defer blockPool.Put(bp)
	i, blk, err := t.blobs.findIn(k[:], bp)
	if err != nil || blk == nil {
		return nil, err
	}
	// The records after the match come from the block read (a blob is
	// in one pack, rarely a few), and from the file past its end.
	var out []Holder
	var own []byte
	for ; i < t.blobs.n; i++ {
		var b []byte
		if len(blk) >= blobRecSize {
			b, blk = blk[:blobRecSize], blk[blobRecSize:]
		} else {
			if own == nil {
				own = make([]byte, blobRecSize)
			}
			if err := t.blobs.at(i, own); err != nil {
				return nil, err
			}
			b = own
		}
		if !bytes.Equal(b[:tblKeySize], k[:]) {
			break
		}
		out = append(out, decodeBlobRec(b))
	}
	return out, nil
}

// blockPool holds the buffers of find's block reads (Lookup is called
// once per blob by copy: 9 M times at 10 M blobs).
var blockPool = sync.Pool{New: func() any { b := make([]byte, 0, tableBlock*blobRecSize); return &b }}

// BlobCursor reads the blob records in order, for merge joins with other
// sorted streams of handles (see Seek).
type BlobCursor struct{ c *recCursor }

// BlobCursor returns a cursor at the first blob.
func (t *Table) BlobCursor() *BlobCursor { return &BlobCursor{c: t.blobs.cursor()} }

// Seek returns the packs holding h (nil if none). Successive calls must
// pass non-decreasing handles (in HandleLess order).
func (c *BlobCursor) Seek(h pack.BlobHandle) ([]Holder, error) {
	var k [tblKeySize]byte
	handleKey(k[:], h)
	rec, ok, err := c.c.seek(k[:])
	if err != nil || !ok {
		return nil, err
	}
	var out []Holder
	for ok && bytes.Equal(rec[:tblKeySize], k[:]) {
		out = append(out, decodeBlobRec(rec))
		if rec, ok, err = c.c.next(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ForEachBlob calls fn for every distinct blob with the packs holding it,
// in handle order.
func (t *Table) ForEachBlob(fn func(h pack.BlobHandle, holders []Holder) error) error {
	c := t.blobs.cursor()
	rec, ok, err := c.next()
	var hs []Holder
	for ok && err == nil {
		hs = append(hs[:0], decodeBlobRec(rec))
		var k [tblKeySize]byte
		copy(k[:], rec[:tblKeySize])
		for {
			if rec, ok, err = c.next(); err != nil || !ok || !bytes.Equal(rec[:tblKeySize], k[:]) {
				break
			}
			hs = append(hs, decodeBlobRec(rec))
		}
		if err != nil {
			break
		}
		if ferr := fn(hs[0].Entry.BlobHandle, hs); ferr != nil {
			return ferr
		}
	}
	return err
}

// HandleLess orders handles as the table and HandleSet do: by ID, then type.
func HandleLess(a, b pack.BlobHandle) bool {
	if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
		return c < 0
	}
	return a.Type < b.Type
}

func handleKey(dst []byte, h pack.BlobHandle) {
	copy(dst, h.ID[:])
	dst[32] = byte(h.Type)
}

func putEntry(b []byte, e pack.Entry) {
	b[0], b[1] = byte(e.Type), byte(e.Compression)
	binary.BigEndian.PutUint32(b[2:], e.Offset)
	binary.BigEndian.PutUint32(b[6:], e.Length)
	binary.BigEndian.PutUint32(b[10:], e.RawLength)
	copy(b[14:46], e.ID[:])
}

func getEntry(b []byte) pack.Entry {
	var e pack.Entry
	e.Type, e.Compression = pack.BlobType(b[0]), pack.Compression(b[1])
	e.Offset = binary.BigEndian.Uint32(b[2:])
	e.Length = binary.BigEndian.Uint32(b[6:])
	e.RawLength = binary.BigEndian.Uint32(b[10:])
	copy(e.ID[:], b[14:46])
	return e
}

func decodeBlobRec(b []byte) Holder {
	var h Holder
	copy(h.Entry.ID[:], b[:32])
	h.Entry.Type = pack.BlobType(b[32])
	h.Pack = binary.BigEndian.Uint32(b[33:])
	h.Entry.Compression = pack.Compression(b[37])
	h.Entry.Offset = binary.BigEndian.Uint32(b[38:])
	h.Entry.Length = binary.BigEndian.Uint32(b[42:])
	h.Entry.RawLength = binary.BigEndian.Uint32(b[46:])
	return h
}

func encodePackRec(b []byte, p PackInfo) {
	copy(b[:32], p.ID[:])
	binary.BigEndian.PutUint32(b[32:], p.file)
	binary.BigEndian.PutUint64(b[36:], uint64(p.entOff))
	binary.BigEndian.PutUint32(b[44:], uint32(p.Entries))
	binary.BigEndian.PutUint64(b[48:], uint64(p.Bytes))
	binary.BigEndian.PutUint64(b[56:], uint64(p.whereAt))
	binary.BigEndian.PutUint32(b[64:], p.whereN)
	binary.BigEndian.PutUint32(b[68:], p.listing)
}

func decodePackRec(b []byte, ord uint32) PackInfo {
	return PackInfo{
		ID: ID(b[:32]), Ord: ord,
		file:    binary.BigEndian.Uint32(b[32:]),
		entOff:  int64(binary.BigEndian.Uint64(b[36:])),
		Entries: int(binary.BigEndian.Uint32(b[44:])),
		Bytes:   int64(binary.BigEndian.Uint64(b[48:])),
		whereAt: int64(binary.BigEndian.Uint64(b[56:])),
		whereN:  binary.BigEndian.Uint32(b[64:]),
		listing: binary.BigEndian.Uint32(b[68:]),
	}
}

// recFile is a file of sorted fixed-size records with a sparse in-memory
// index: the key of every tableBlock-th record.
type recFile struct {
	f      *os.File
	rec    int
	keyLen int
	n      int64
	sparse []byte
}

type recWriter struct {
	recFile
	w *bufio.Writer
}

func newRecWriter(path string, rec, keyLen int) (*recWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("index table: %w", err)
	}
	return &recWriter{recFile: recFile{f: f, rec: rec, keyLen: keyLen}, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (w *recWriter) add(r []byte) error {
	if w.n%tableBlock == 0 {
		w.sparse = append(w.sparse, r[:w.keyLen]...)
	}
	w.n++
	_, err := w.w.Write(r)
	return err
}

func (w *recWriter) finish() (*recFile, error) {
	if err := w.w.Flush(); err != nil {
		w.f.Close()
		return nil, fmt.Errorf("index table: %w", err)
	}
	return &w.recFile, nil
}

func (r *recFile) at(i int64, b []byte) error {
	if _, err := r.f.ReadAt(b[:r.rec], i*int64(r.rec)); err != nil {
		return fmt.Errorf("index table: %w", err)
	}
	return nil
}

// find returns the first record whose key starts with prefix (rec nil if
// none), reading one block.
func (r *recFile) find(prefix []byte) (int64, []byte, error) {
	i, rest, err := r.findIn(prefix, nil)
	if rest == nil {
		return i, nil, err
	}
	return i, rest[:r.rec], err
}

// findIn is find reading the block into *buf (nil: a new buffer); it
// returns the block from the match on (rest: the matching record first),
// or rest nil if there is no match.
func (r *recFile) findIn(prefix []byte, buf *[]byte) (int64, []byte, error) {
	nb := len(r.sparse) / r.keyLen
	// Last block whose first key is < prefix: the match starts there or
	// at the next block's start (then the sparse index shows it).
	blk := sort.Search(nb, func(i int) bool {
		return bytes.Compare(r.sparse[i*r.keyLen:i*r.keyLen+len(prefix)], prefix) >= 0
	}) - 1
	if blk < 0 {
		blk = 0
	}
	for {
		start := int64(blk) * tableBlock
		cnt := min(int64(tableBlock), r.n-start)
		if cnt <= 0 {
			return 0, nil, nil
		}
		var b []byte
		if buf != nil && int64(cap(*buf)) >= cnt*int64(r.rec) {
			b = (*buf)[:cnt*int64(r.rec)]
		} else {
			b = make([]byte, cnt*int64(r.rec))
		}
		if _, err := r.f.ReadAt(b, start*int64(r.rec)); err != nil && err != io.EOF {
			return 0, nil, fmt.Errorf("index table: %w", err)
		}
		j := sort.Search(int(cnt), func(i int) bool {
			return bytes.Compare(b[i*r.rec:i*r.rec+len(prefix)], prefix) >= 0
		})
		if j < int(cnt) {
			if !bytes.Equal(b[j*r.rec:j*r.rec+len(prefix)], prefix) {
				return 0, nil, nil
			}
			return start + int64(j), b[j*r.rec:], nil
		}
		// Every key of the block is below prefix: the match, if any,
		// is the first record of the next block.
		blk++
		if blk >= nb || !bytes.Equal(r.sparse[blk*r.keyLen:blk*r.keyLen+len(prefix)], prefix) {
			return 0, nil, nil
		}
	}
}

// recCursor reads a recFile front to back.
type recCursor struct {
	r   *recFile
	rd  *bufio.Reader
	i   int64 // index of the current record (-1 before the first)
	cur []byte
	ok  bool
}

func (r *recFile) cursor() *recCursor {
	return &recCursor{r: r, rd: bufio.NewReaderSize(io.NewSectionReader(r.f, 0, r.n*int64(r.rec)), 64<<10), i: -1, cur: make([]byte, r.rec)}
}

func (c *recCursor) next() ([]byte, bool, error) {
	if c.i+1 >= c.r.n {
		c.i, c.ok = c.r.n, false
		return nil, false, nil
	}
	if _, err := io.ReadFull(c.rd, c.cur); err != nil {
		return nil, false, fmt.Errorf("index table: %w", err)
	}
	c.i++
	c.ok = true
	return c.cur, true, nil
}

// seek advances to the first record whose key prefix is >= prefix and
// reports whether its prefix equals it. The current record counts: seeks
// must not go backwards.
func (c *recCursor) seek(prefix []byte) ([]byte, bool, error) {
	if c.i < 0 {
		if _, _, err := c.next(); err != nil {
			return nil, false, err
		}
	}
	for c.ok && bytes.Compare(c.cur[:len(prefix)], prefix) < 0 {
		if _, _, err := c.next(); err != nil {
			return nil, false, err
		}
	}
	if !c.ok {
		return nil, false, nil
	}
	return c.cur, bytes.Equal(c.cur[:len(prefix)], prefix), nil
}

// HandleSet is a set of blob handles of any size, on disk: handles are
// added to a Sorter, then Freeze sorts them (dropping duplicates) into a
// file read in HandleLess order or searched.
type HandleSet struct {
	s    *Sorter
	f    *recFile
	path string
}

// NewHandleSet returns an empty set keeping its files under dir.
func NewHandleSet(dir string) (*HandleSet, error) {
	s, err := NewSorter(dir, handleSize, handleSize)
	if err != nil {
		return nil, err
	}
	return &HandleSet{s: s}, nil
}

// Add adds h (before Freeze).
func (hs *HandleSet) Add(h pack.BlobHandle) error {
	var k [handleSize]byte
	handleKey(k[:], h)
	return hs.s.Add(k[:])
}

// Freeze sorts the handles added; the set is read-only afterwards. If
// other is not nil, its handles are included too (a union).
func (hs *HandleSet) Freeze(other *HandleSet) error {
	if other != nil {
		if err := other.ForEach(func(h pack.BlobHandle) error { return hs.Add(h) }); err != nil {
			return err
		}
	}
	// The sorter's directory is removed below: keep the result beside it.
	f, err := os.CreateTemp(filepath.Dir(hs.s.dir), "set-")
	if err != nil {
		return fmt.Errorf("handle set: %w", err)
	}
	hs.path = f.Name()
	f.Close()
	w, err := newRecWriter(hs.path, handleSize, handleSize)
	if err != nil {
		return err
	}
	var last [handleSize]byte
	first := true
	err = hs.s.Sorted(func(r []byte) error {
		if !first && bytes.Equal(r, last[:]) {
			return nil
		}
		first = false
		copy(last[:], r)
		return w.add(r)
	})
	hs.s.Close()
	hs.s = nil
	if err != nil {
		w.f.Close()
		return fmt.Errorf("handle set: %w", err)
	}
	hs.f, err = w.finish()
	return err
}

// Len returns the number of distinct handles (after Freeze).
func (hs *HandleSet) Len() int64 { return hs.f.n }

// Has reports whether h is in the set (after Freeze).
func (hs *HandleSet) Has(h pack.BlobHandle) (bool, error) {
	var k [handleSize]byte
	handleKey(k[:], h)
	_, rec, err := hs.f.find(k[:])
	return rec != nil, err
}

// ForEach calls fn for every handle in HandleLess order (after Freeze).
func (hs *HandleSet) ForEach(fn func(h pack.BlobHandle) error) error {
	c := hs.f.cursor()
	for {
		rec, ok, err := c.next()
		if err != nil || !ok {
			return err
		}
		var h pack.BlobHandle
		copy(h.ID[:], rec[:32])
		h.Type = pack.BlobType(rec[32])
		if err := fn(h); err != nil {
			return err
		}
	}
}

// Close removes the set's files.
func (hs *HandleSet) Close() error {
	if hs.s != nil {
		hs.s.Close()
	}
	if hs.f != nil {
		hs.f.f.Close()
		return os.Remove(hs.path)
	}
	return nil
}
