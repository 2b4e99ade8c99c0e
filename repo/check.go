package repo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/sync/errgroup"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/data"
)

// CheckOptions select how deep check goes.
type CheckOptions struct {
	ReadData bool // decrypt and verify every blob of every pack
	// ReadDataSubset, if non-nil (and ReadData false), decrypts and
	// verifies the blobs of the packs it selects only.
	ReadDataSubset *Subset
	// Progress receives one call per pack checked (may be concurrent).
	Progress func(done, total int)
	// ReadDataBudget, if positive (and ReadData and ReadDataSubset
	// unset), verifies packs resumably: the packs not verified for the
	// longest time (never verified first) are read, in parallel, until the
	// budget is spent; each pack verified intact is remembered with the
	// time, beside the local cache, so that successive runs cover every
	// pack.
	// At least one due pack is read per run.
	ReadDataBudget time.Duration
	// ReadDataMaxAge, with ReadDataBudget, makes packs verified less than
	// this long ago not due (zero: every pack is due, oldest first).
	ReadDataMaxAge time.Duration
	// Now is the clock of the resumable mode (nil: time.Now; tests).
	Now func() time.Time
}

// ReadDataCoverage reports resumable verification (CheckOptions.ReadDataBudget).
type ReadDataCoverage struct {
	Due       int   `json:"due_packs"`      // not verified within the maximum age, before this run
	Verified  int   `json:"verified_packs"` // read and found intact this run
	Remaining int   `json:"remaining_packs"`
	Covered   int   `json:"covered_packs"` // verified within the maximum age, after this run
	Total     int   `json:"total_packs"`
	Bytes     int64 `json:"verified_bytes"`
	// Oldest is the oldest verification time of any pack after this run
	// (zero if some pack was never verified).
	Oldest time.Time `json:"oldest_verification"`
	// NotRemembered: the repository was opened without a cache (NoCache),
	// so this run's verifications are forgotten on close.
	NotRemembered bool `json:"not_remembered,omitempty"`
}

// DamagedBlob is a blob that is missing or fails verification.
type DamagedBlob struct {
	Handle pack.BlobHandle `json:"-"`
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Pack   string          `json:"pack,omitempty"`
	Reason string          `json:"reason"`
}

// AffectedFile is a file (or directory) of a snapshot that uses a damaged blob.
type AffectedFile struct {
	Snapshot string `json:"snapshot"`
	Path     string `json:"path"`
	Blob     string `json:"blob"`
}

// CheckResult lists every problem found. Problems is empty for a healthy repository.
type CheckResult struct {
	Packs     int            `json:"packs"`
	Blobs     int            `json:"blobs"`
	Snapshots int            `json:"snapshots"`
	Problems  []string       `json:"problems"`
	Damaged   []DamagedBlob  `json:"damaged_blobs"`
	Affected  []AffectedFile `json:"affected_files"`
	Unindexed []string       `json:"unindexed_packs"`
	ReadData  bool           `json:"read_data"`
	PacksRead int            `json:"packs_read"`
	BytesRead int64          `json:"bytes_read"`
	Keys      int            `json:"keys"`
	Pending   int            `json:"pending_deletion_packs"`
	// DamagedSnapshots lists snapshot files that cannot be loaded (repair
	// snapshots keeps those whose content authenticates under another
	// name, and removes the others).
	DamagedSnapshots []string `json:"damaged_snapshots"`
	// Coverage is set by resumable verification (ReadDataBudget).
	Coverage   *ReadDataCoverage `json:"read_data_coverage,omitempty"`
	damagedSet map[pack.BlobHandle]bool
}

// damageLocked records blob h as damaged (once); the caller holds the lock.
func damageLocked(res *CheckResult, h pack.BlobHandle, packID ID, reason string) {
	if res.damagedSet[h] {
		return
	}
	res.damagedSet[h] = true
	d := DamagedBlob{Handle: h, ID: h.ID.String(), Type: h.Type.String(), Reason: reason}
	if !packID.IsNull() {
		d.Pack = packID.String()
	}
	res.Damaged = append(res.Damaged, d)
}

// OK reports whether no problem was found.
func (c *CheckResult) OK() bool { return len(c.Problems) == 0 && len(c.Damaged) == 0 }

// packReaderAt reads a pack through the backend.
type packReaderAt struct {
	ctx context.Context
	be  backend.Backend
	h   backend.Handle
}

func (p *packReaderAt) ReadAt(b []byte, off int64) (int, error) {
	err := p.be.Load(p.ctx, p.h, len(b), off, func(rd io.Reader) error {
		_, err := io.ReadFull(rd, b)
		return err
	})
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// Check verifies the repository: every index file decodes, every indexed
// pack exists and its header matches the index, every snapshot's trees load
// and every blob they reference is indexed; with ReadData every blob of
// every pack is decrypted and verified. Damaged blobs are traced to the
// snapshots and files that use them.
func (r *Repository) Check(ctx context.Context, opts CheckOptions) (*CheckResult, error) {
	ctx, release, err := r.hold(ctx, lockRead, "check") // docs/FORMAT.md §10.3
	if err != nil {
		return nil, err
	}
	defer release()
	res := &CheckResult{ReadData: opts.ReadData || opts.ReadDataSubset != nil, damagedSet: map[pack.BlobHandle]bool{}}
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	damage := func(h pack.BlobHandle, packID ID, reason string) {
		mu.Lock()
		defer mu.Unlock()
		damageLocked(res, h, packID, reason)
	}
	// A blob that fails in one pack is damaged only if no other pack
	// holds an intact copy: failures are collected per pack first.
	failedAt := map[pack.BlobHandle]map[ID]string{}
	packDamage := func(h pack.BlobHandle, packID ID, reason string) {
		mu.Lock()
		defer mu.Unlock()
		if failedAt[h] == nil {
			failedAt[h] = map[ID]string{}
		}
		failedAt[h][packID] = reason
	}

	// 1. Packs in the backend.
	sizes := map[ID]int64{}
	err = r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		id, err := crypto.ParseID(fi.Name)
		if err != nil {
			problem("data/%s: not a pack file name", fi.Name)
			return nil
		}
		sizes[id] = fi.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	// 1b. Key files (plaintext, named by the hash of their content) and
	// the lock directory (locks and pending deletion records).
	var keyNames []string
	err = r.be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		keyNames = append(keyNames, fi.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	for _, name := range keyNames {
		res.Keys++
		b, err := loadBounded(ctx, r.be, backend.Handle{Type: backend.KeyFile, Name: name})
		if err != nil {
			problem("key %s: %v", shortName(name), err)
			continue
		}
		_, kerr := decodeKeyFile(b)
		if id, perr := crypto.ParseID(name); perr != nil || crypto.Hash(b) != id {
			if kerr == nil {
				// A valid key under the wrong name (renamed or swapped)
				// still opens the repository: it must not be deleted.
				problem("key %s: a valid key stored under the wrong name (renamed or swapped): do not delete it; rename keys/%s to keys/%s",
					shortName(name), name, crypto.Hash(b))
				continue
			}
			problem("key %s: content does not match its name (damaged)", shortName(name))
			continue
		}
		if kerr != nil {
			problem("key %s: %v", shortName(name), kerr)
		}
	}
	_, pend, err := r.loadLockDir(ctx, func(id ID, err error) { problem("lock file %s: %v", id.Short(), err) })
	if err != nil {
		return nil, err
	}
	for _, p := range pend {
		res.Pending += len(p.Packs)
	}
	// 1c. Snapshots, listed before the index files: a writer stores its
	// index files before its snapshot, so the trees of every snapshot
	// listed here are in an index file listed next (a backup running
	// beside check must not look like damage).
	snaps, err := r.Snapshots(ctx, func(id ID, err error) {
		problem("snapshot %s: %v", id.Short(), err)
		res.DamagedSnapshots = append(res.DamagedSnapshots, id.String())
	})
	if err != nil {
		return nil, err
	}
	res.Snapshots = len(snaps)
	// 2. Index files, streamed into a table on disk (loadRepoIndex): ri
	// resolves trees through the index files (the truth), not through the
	// local cache, which may lag behind other writers or leave out
	// condemned packs (PrepareWrite).
	ri, err := r.loadRepoIndex(ctx, func(id ID, err error) {
		if id.IsNull() {
			problem("%v", err)
		} else {
			problem("index %s: %v", id.Short(), err)
		}
	})
	if err != nil {
		return nil, err
	}
	defer ri.close()
	// 3. Every pack: header vs index (and with ReadData every blob).
	for id := range sizes {
		if _, ok, err := ri.t.FindPack(id); err != nil {
			return nil, err
		} else if !ok {
			res.Unindexed = append(res.Unindexed, id.String())
		}
	}
	sort.Strings(res.Unindexed)
	if opts.ReadDataSubset != nil && !opts.ReadData {
		present := map[ID]int64{}
		err := ri.t.ForEachPack(func(p index.PackInfo) error {
			if sz, ok := sizes[p.ID]; ok {
				present[p.ID] = sz
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		opts.ReadDataSubset.prepare(present)
	}
	res.Packs = ri.t.NumPacks()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(runtime.GOMAXPROCS(0), r.be.Properties().Connections))
	var checked int
	err = ri.t.ForEachPack(func(p index.PackInfo) error {
		id := p.ID
		entries, err := ri.t.PackEntries(p)
		if err != nil {
			return err
		}
		size, ok := sizes[id]
		if !ok {
			problem("pack %s is in the index but missing from the repository", id.Short())
			for _, e := range entries {
				packDamage(e.BlobHandle, id, "pack missing")
			}
			return nil
		}
		read := opts.ReadData || (opts.ReadDataSubset != nil && opts.ReadDataSubset.selected(id))
		if read {
			res.PacksRead++
			res.BytesRead += size
		}
		g.Go(func() error {
			r.checkPack(gctx, id, size, entries, read, problem, packDamage)
			if opts.Progress != nil {
				mu.Lock()
				checked++
				n := checked
				mu.Unlock()
				opts.Progress(n, res.Packs)
			}
			return gctx.Err()
		})
		return gctx.Err()
	})
	if werr := g.Wait(); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	if opts.ReadDataBudget > 0 && !res.ReadData {
		res.ReadData = true
		if err := r.checkCoverage(ctx, ri, sizes, opts, res, problem, packDamage); err != nil {
			return nil, err
		}
	}
	res.Blobs = int(ri.t.NumBlobs())
	for h, bad := range failedAt {
		holders, err := ri.t.Lookup(h)
		if err != nil {
			return nil, err
		}
		intact := false
		for _, hd := range holders {
			pi, err := ri.t.Pack(hd.Pack)
			if err != nil {
				return nil, err
			}
			if _, present := sizes[pi.ID]; present && bad[pi.ID] == "" {
				intact = true
			}
		}
		if intact {
			continue // the index lists an intact copy in another pack
		}
		var first ID
		for p := range bad {
			if first.IsNull() || bytes.Compare(p[:], first[:]) < 0 {
				first = p
			}
		}
		damage(h, first, bad[first])
	}
	// 4. Snapshots: every tree loads and every data blob used is indexed
	// (the used blobs, collected on disk, merge-joined with the table);
	// then, only if something is damaged, trace the damage to files.
	used, err := index.NewHandleSet(r.tableDir())
	if err != nil {
		return nil, err
	}
	defer used.Close()
	seen := map[ID]bool{}
	for _, sn := range snaps {
		err := r.collectUsed(ctx, ri, sn.Tree, used, seen, func(id ID, err error) {
			if th := (pack.BlobHandle{ID: id, Type: pack.TreeBlob}); !res.damagedSet[th] {
				damage(th, ID{}, err.Error())
			}
		})
		if err != nil {
			return nil, err
		}
	}
	seen = nil
	if err := used.Freeze(nil); err != nil {
		return nil, err
	}
	cur := ri.t.BlobCursor()
	err = used.ForEach(func(h pack.BlobHandle) error {
		holders, err := cur.Seek(h)
		if err == nil && len(holders) == 0 && !res.damagedSet[h] {
			damage(h, ID{}, "not in any index file")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(res.Damaged) > 0 {
		clean := map[ID]bool{} // trees fully verified without damage
		for _, sn := range snaps {
			r.checkTree(ctx, ri, sn, sn.Tree, "/", res, clean, problem, damage)
		}
	}
	sort.Slice(res.Damaged, func(i, j int) bool { return res.Damaged[i].ID < res.Damaged[j].ID })
	return res, nil
}

// checkPack checks one pack: its header against the index and its name
// against its trailer; with readData, or when its header is unreadable,
// every indexed blob is read (one at a time: memory is one blob, whatever
// the pack's size) and verified.
func (r *Repository) checkPack(ctx context.Context, id ID, size int64, entries []pack.Entry, readData bool,
	problem func(string, ...any), damage func(pack.BlobHandle, ID, string)) {
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	if size > MaxPackFile {
		problem("pack %s: %d bytes, more than a pack can hold (%d): damaged; run `immich-vault repair index`", id.Short(), size, int64(MaxPackFile))
	}
	hdr, err := pack.ReadHeader(r.key.AEAD(), &packReaderAt{ctx: ctx, be: r.be, h: h}, size)
	switch {
	case err != nil && !isCorrupt(err):
		problem("pack %s: %v", id.Short(), err)
		for _, e := range entries {
			damage(e.BlobHandle, id, "pack unreadable")
		}
		return
	case err != nil:
		// Its blobs may well be intact (restore reads them through the
		// index): read them to tell.
		problem("pack %s: header damaged (%v); repair index copies its intact blobs into a new pack", id.Short(), err)
		readData = true
	case !subsetOf(entries, hdr):
		problem("pack %s: header does not match the index (run repair index)", id.Short())
	}
	if name, err := r.packTrailerName(ctx, id, size); err == nil && name != id {
		problem("pack %s: its header does not match its name (damaged, renamed or swapped)", id.Short())
	}
	if !readData {
		return
	}
	err = r.verifyPackBlobs(ctx, id, size, entries, func(c blobCheck) error {
		if c.Err != nil {
			damage(c.Entry.BlobHandle, id, c.Err.Error())
		}
		return nil
	})
	if err != nil {
		problem("pack %s: %v", id.Short(), err)
		for _, e := range entries {
			damage(e.BlobHandle, id, "pack unreadable")
		}
	}
}

// subsetOf reports whether every entry of idx appears in the header hdr
// (an index may list only part of a pack).
func subsetOf(idx, hdr []pack.Entry) bool {
	m := make(map[pack.Entry]bool, len(hdr))
	for _, e := range hdr {
		m[e] = true
	}
	for _, e := range idx {
		if !m[e] {
			return false
		}
	}
	return true
}

// collectUsed loads tree id and every tree below it (each once: seen),
// passing the trees that fail to load to onErr and adding every data blob
// they use to used.
func (r *Repository) collectUsed(ctx context.Context, ri *repoIndex, id ID, used *index.HandleSet, seen map[ID]bool, onErr func(ID, error)) error {
	if seen[id] {
		return nil
	}
	seen[id] = true
	t, err := r.loadTreeVia(ctx, ri, id)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		onErr(id, err)
		return nil
	}
	for _, n := range t.Nodes {
		for _, c := range n.Content {
			if err := used.Add(pack.BlobHandle{ID: c, Type: pack.DataBlob}); err != nil {
				return err
			}
		}
		if n.Type == data.NodeDir && n.Subtree != nil {
			if err := r.collectUsed(ctx, ri, *n.Subtree, used, seen, onErr); err != nil {
				return err
			}
		}
	}
	for i := range t.Parts { // a split directory's parts (repo/treesplit.go)
		if err := r.collectUsed(ctx, ri, t.Parts[i].Subtree, used, seen, onErr); err != nil {
			return err
		}
	}
	return nil
}

// checkTree verifies a tree and everything below it; it returns whether the
// tree is free of damage. Damage is reported once per (snapshot, path).
func (r *Repository) checkTree(ctx context.Context, ri *repoIndex, sn *Snapshot, id ID, p string, res *CheckResult, clean map[ID]bool,
	problem func(string, ...any), damage func(pack.BlobHandle, ID, string)) bool {
	if clean[id] {
		return true
	}
	th := pack.BlobHandle{ID: id, Type: pack.TreeBlob}
	var t *data.Tree
	var err error
	if res.damagedSet[th] {
		err = fmt.Errorf("tree %s damaged", id.Short())
	} else {
		t, err = r.loadTreeVia(ctx, ri, id)
	}
	if err != nil {
		if !res.damagedSet[th] {
			damage(th, ID{}, err.Error())
		}
		res.Affected = append(res.Affected, AffectedFile{Snapshot: sn.ID().String(), Path: p, Blob: id.String()})
		return false
	}
	ok := len(t.Parts) == 0 || r.checkParts(ctx, ri, sn, t, p, res, clean, problem, damage) // repo/treesplit.go
	for _, n := range t.Nodes {
		np := p + n.FileName()
		if n.Type == data.NodeDir {
			if !r.checkTree(ctx, ri, sn, *n.Subtree, np+"/", res, clean, problem, damage) {
				ok = false
			}
			continue
		}
		for _, b := range n.Content {
			h := pack.BlobHandle{ID: b, Type: pack.DataBlob}
			if res.damagedSet[h] { // blobs no index file lists included (collectTree)
				res.Affected = append(res.Affected, AffectedFile{Snapshot: sn.ID().String(), Path: np, Blob: b.String()})
				ok = false
			}
		}
	}
	if ok {
		clean[id] = true
	}
	return ok
}

// Subset selects the packs check --read-data-subset reads: "n/m" (the n-th
// of m disjoint groups by pack ID: running 1/m ... m/m covers every pack
// once), "P%" (a random P percent of the packs) or a size ("500M", "2G":
// random packs until that many bytes).
type Subset struct {
	N, M    uint64  // n/m form
	Percent float64 // P% form
	Bytes   int64   // size form
	chosen  map[ID]bool
}

// ParseSubset parses the --read-data-subset argument.
func ParseSubset(s string) (*Subset, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("invalid subset %q: use n/m (e.g. 2/7), a percentage (e.g. 10%%) or a size (e.g. 500M)", s)
	switch {
	case strings.Contains(s, "/"):
		a, b, _ := strings.Cut(s, "/")
		n, err1 := strconv.ParseUint(a, 10, 32)
		m, err2 := strconv.ParseUint(b, 10, 32)
		if err1 != nil || err2 != nil || m == 0 || n == 0 || n > m {
			return nil, bad
		}
		return &Subset{N: n, M: m}, nil
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || !(p > 0 && p <= 100) {
			return nil, bad
		}
		return &Subset{Percent: p}, nil
	default:
		mult := int64(1)
		num := s
		if num != "" {
			switch unicode.ToUpper(rune(num[len(num)-1])) {
			case 'K':
				mult = 1 << 10
			case 'M':
				mult = 1 << 20
			case 'G':
				mult = 1 << 30
			case 'T':
				mult = 1 << 40
			}
			if mult > 1 {
				num = num[:len(num)-1]
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		// A size must come to at least one byte ("0.1" would select nothing).
		if err != nil || !(v*float64(mult) >= 1) || v*float64(mult) > 1<<62 {
			return nil, bad
		}
		return &Subset{Bytes: int64(v * float64(mult))}, nil
	}
}

func (s *Subset) prepare(packs map[ID]int64) {
	if s.M > 0 {
		return
	}
	ids := make([]ID, 0, len(packs))
	for id := range packs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Compare(ids[j]) < 0 })
	mrand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	s.chosen = map[ID]bool{}
	if s.Percent > 0 {
		n := int(math.Ceil(float64(len(ids)) * s.Percent / 100))
		for _, id := range ids[:min(n, len(ids))] {
			s.chosen[id] = true
		}
		return
	}
	var total int64
	for _, id := range ids {
		if total >= s.Bytes {
			break
		}
		s.chosen[id] = true
		total += packs[id]
	}
}

func (s *Subset) selected(id ID) bool {
	if s.M > 0 {
		return binary.BigEndian.Uint64(id[:8])%s.M == s.N-1
	}
	return s.chosen[id]
}

// The coverage file remembers when each pack was last verified intact by
// a budgeted check: <cache root>/<repository ID>/readdata-coverage, records
// of packID[32] ‖ Unix seconds u64be sorted by pack ID, rewritten (to a
// temporary file, then renamed) at the end of each run with the records of
// the packs still indexed. It lives beside the index cache, not in it: the
// cache is wiped whenever prune replaces index files, and coverage must
// survive that. Deleting it only makes the next runs read packs again.
const coverageRec = 32 + 8

func (r *Repository) coveragePath() string {
	if r.opts.NoCache {
		return filepath.Join(r.tmpDir, "readdata-coverage")
	}
	root, err := r.opts.cacheRoot()
	if err != nil {
		return filepath.Join(r.tmpDir, "readdata-coverage")
	}
	return filepath.Join(root, r.cfg.ID, "readdata-coverage")
}

// coverageReader reads the coverage file in pack ID order.
type coverageReader struct {
	f   *os.File
	rd  *bufio.Reader
	cur [coverageRec]byte
	ok  bool
}

func openCoverage(path string) (*coverageReader, error) {
	c := &coverageReader{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read-data coverage: %w", err)
	}
	c.f, c.rd = f, bufio.NewReaderSize(f, 64<<10)
	c.next()
	return c, nil
}

func (c *coverageReader) next() {
	if c.rd == nil {
		return
	}
	_, err := io.ReadFull(c.rd, c.cur[:])
	c.ok = err == nil // a short or missing tail: the rest is forgotten
}

// last returns when pack id was verified (0: never); ids must be asked
// in increasing order.
func (c *coverageReader) last(id ID) int64 {
	for c.ok && bytes.Compare(c.cur[:32], id[:]) < 0 {
		c.next()
	}
	if c.ok && bytes.Equal(c.cur[:32], id[:]) {
		return int64(binary.BigEndian.Uint64(c.cur[32:]))
	}
	return 0
}

func (c *coverageReader) close() {
	if c.f != nil {
		c.f.Close()
	}
}

// checkCoverage is the resumable read-data pass: due packs, oldest
// verification first (sorted on disk), read in parallel until the budget
// is spent, then the coverage file is rewritten.
func (r *Repository) checkCoverage(ctx context.Context, ri *repoIndex, sizes map[ID]int64, opts CheckOptions, res *CheckResult,
	problem func(string, ...any), damage func(pack.BlobHandle, ID, string)) error {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	deadline := start.Add(opts.ReadDataBudget)
	path := r.coveragePath()
	cov := &ReadDataCoverage{NotRemembered: r.opts.NoCache}
	res.Coverage = cov
	// Due packs, as (last verification, pack) records sorted on disk.
	due, err := index.NewSorter(r.tableDir(), 8+32, 8+32)
	if err != nil {
		return err
	}
	defer due.Close()
	old, err := openCoverage(path)
	if err != nil {
		return err
	}
	var rec [40]byte
	err = ri.t.ForEachPack(func(p index.PackInfo) error {
		if _, ok := sizes[p.ID]; !ok {
			return nil // missing: reported already
		}
		cov.Total++
		last := old.last(p.ID)
		if last > 0 && opts.ReadDataMaxAge > 0 && start.Sub(time.Unix(last, 0)) < opts.ReadDataMaxAge {
			cov.Covered++
			return nil
		}
		binary.BigEndian.PutUint64(rec[:8], uint64(last))
		copy(rec[8:], p.ID[:])
		return due.Add(rec[:])
	})
	old.close()
	if err != nil {
		return err
	}
	cov.Due = int(due.Len())
	// This run's verifications, to merge into the file.
	upd, err := index.NewSorter(r.tableDir(), coverageRec, 32)
	if err != nil {
		return err
	}
	defer upd.Close()
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(runtime.GOMAXPROCS(0), r.be.Properties().Connections))
	errStop := errors.New("budget spent")
	scheduled := 0
	err = due.Sorted(func(b []byte) error {
		if scheduled > 0 && !now().Before(deadline) {
			return errStop
		}
		if gctx.Err() != nil {
			return errStop
		}
		id := ID(b[8:40])
		p, ok, err := ri.t.FindPack(id)
		if err != nil || !ok {
			return err
		}
		entries, err := ri.t.PackEntries(p)
		if err != nil {
			return err
		}
		size := sizes[id]
		scheduled++
		g.Go(func() error {
			bad := false
			r.checkPack(gctx, id, size, entries, true,
				func(f string, a ...any) { bad = true; problem(f, a...) },
				func(h pack.BlobHandle, pid ID, reason string) { bad = true; damage(h, pid, reason) })
			if bad || gctx.Err() != nil {
				return gctx.Err()
			}
			var v [coverageRec]byte
			copy(v[:32], id[:])
			binary.BigEndian.PutUint64(v[32:], uint64(now().Unix()))
			mu.Lock()
			defer mu.Unlock()
			cov.Verified++
			cov.Bytes += size
			res.PacksRead++
			res.BytesRead += size
			return upd.Add(v[:])
		})
		return nil
	})
	werr := g.Wait()
	if err != nil && !errors.Is(err, errStop) && werr == nil {
		werr = err
	}
	// Remember what was verified, even when interrupted.
	if serr := r.saveCoverage(path, ri, sizes, upd, cov); serr != nil && werr == nil {
		werr = serr
	}
	if werr != nil {
		return werr
	}
	cov.Remaining = cov.Due - cov.Verified
	cov.Covered += cov.Verified
	return nil
}

// saveCoverage rewrites the coverage file: the old records and this run's
// (the newest time of each pack), for the packs still indexed and present.
// It sets cov.Oldest.
func (r *Repository) saveCoverage(path string, ri *repoIndex, sizes map[ID]int64, upd *index.Sorter, cov *ReadDataCoverage) error {
	old, err := openCoverage(path)
	if err != nil {
		return err
	}
	if old.ok {
		for ; old.ok; old.next() {
			if err := upd.Add(old.cur[:]); err != nil {
				old.close()
				return err
			}
		}
	}
	old.close()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("read-data coverage: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "readdata-coverage-")
	if err != nil {
		return fmt.Errorf("read-data coverage: %w", err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 64<<10)
	var pend [coverageRec]byte
	have := false
	var oldest int64
	kept := 0
	emit := func() error {
		if !have {
			return nil
		}
		id := ID(pend[:32])
		if _, ok := sizes[id]; !ok {
			return nil
		}
		if _, ok, err := ri.t.FindPack(id); err != nil || !ok {
			return err
		}
		if t := int64(binary.BigEndian.Uint64(pend[32:])); oldest == 0 || t < oldest {
			oldest = t
		}
		kept++
		_, err := w.Write(pend[:])
		return err
	}
	// Sorted by pack ID then time: the last record of a pack is its newest.
	err = upd.Sorted(func(b []byte) error {
		if have && !bytes.Equal(b[:32], pend[:32]) {
			if err := emit(); err != nil {
				return err
			}
		}
		copy(pend[:], b)
		have = true
		return nil
	})
	if err == nil {
		err = emit()
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("read-data coverage: %w", err)
	}
	if kept == cov.Total && oldest > 0 {
		cov.Oldest = time.Unix(oldest, 0).UTC()
	}
	return nil
}
