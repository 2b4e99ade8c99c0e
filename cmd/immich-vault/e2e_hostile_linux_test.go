package main_test

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// hostileRSSBound is the peak resident memory any command may reach on a
// repository with a hostile file in it (a sparse 3 GiB file included):
// the limits of docs/FORMAT.md §11.5 keep every read of a repository file
// at its kind's maximum, and such a file is refused by its size before it
// is read. Measured: about 60-90 MiB for these commands on this small
// repository, the same as on the undamaged one.
const hostileRSSBound = 256 << 20

// hostileSparseSize is the size of the planted sparse files (issue 11 item 4).
const hostileSparseSize = 3 << 30

// maxRSS returns the child's peak resident set size in bytes.
func maxRSS(r result) int64 {
	if ru, ok := r.rusage.(*syscall.Rusage); ok {
		return int64(ru.Maxrss) << 10 // KiB on Linux (int32 on 32-bit)
	}
	return 0
}

// repoFiles lists the regular files of kind (a directory of the
// repository, "config" for the config), sorted by path.
func repoFiles(t *testing.T, repo, kind string) []string {
	t.Helper()
	if kind == "config" {
		return []string{filepath.Join(repo, "config")}
	}
	var out []string
	filepath.WalkDir(filepath.Join(repo, kind), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// plantPath returns a new path of kind with a random hex name (packs go to
// a fan-out directory named by the first two hex digits, as the local
// backend stores them).
func plantPath(repo, kind string, rng *rand.Rand) string {
	var id [32]byte
	for i := range id {
		id[i] = byte(rng.IntN(256))
	}
	name := hex.EncodeToString(id[:])
	if kind == "data" {
		return filepath.Join(repo, kind, name[:2], name)
	}
	return filepath.Join(repo, kind, name)
}

// renameRe finds check's "rename keys/X to keys/Y" advice.
var renameRe = regexp.MustCompile(`rename (keys/[0-9a-f]{64}) to (keys/[0-9a-f]{64})`)

// hostileCase is one damage done to one file kind.
type hostileCase struct {
	kind, damage string
	// do damages the repository and returns the names (first 8 hex
	// digits, or "config") check must report; none when the files it
	// leaves are authentic (a replayed snapshot).
	do func(t *testing.T, repo string, rng *rand.Rand) []string
	// lost: the snapshots (by label) this damage destroys for good.
	lost []string
	// mayDamageFiles: repair may leave *.damaged files (blobs are lost).
	mayDamageFiles bool
	// fatal: the repository cannot be opened any more (config).
	fatal bool
}

func short(p string) string {
	b := filepath.Base(p)
	if len(b) >= 8 && b != "config" {
		return b[:8]
	}
	return b
}

func truncateHalf(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

func garbage(t *testing.T, p string, n int, rng *rand.Rand) {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	mustWrite(t, p, b, 0o600)
}

func plantSparse(t *testing.T, p string) {
	t.Helper()
	mustMkdirAll(t, filepath.Dir(p))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(p, hostileSparseSize); err != nil {
		t.Fatal(err)
	}
}

func swap(t *testing.T, a, b string) {
	t.Helper()
	da, db := mustRead(t, a), mustRead(t, b)
	mustWrite(t, a, db, 0o600)
	mustWrite(t, b, da, 0o600)
}

// TestHostileRepository is the hostile-repository campaign of issue 11:
// for each kind of file under the repository (config, keys, index,
// snapshots, locks, packs) a file is truncated, oversized (a sparse 3 GiB
// file), replayed (an older authentic copy put back), swapped (two files'
// contents exchanged under each other's names) or replaced by garbage.
// Every command must end without a panic and with a peak RSS below
// hostileRSSBound; check --read-data must name the damaged file; following
// check's advice (and deleting a damaged key or lock file by hand, as it
// says) must give a repository that passes check --read-data, in which
// every snapshot not destroyed restores bit-identical.
func TestHostileRepository(t *testing.T) {
	t.Parallel()
	base := newEnv(t)
	base.initRepo()
	srcs := map[string]string{}
	var files = map[string]map[string][]byte{}
	for i, label := range []string{"A", "B", "C"} {
		src := filepath.Join(base.dir, "src"+label)
		files[label] = map[string][]byte{}
		for j := range 6 {
			p := filepath.Join(src, fmt.Sprintf("d%d", j%2), fmt.Sprintf("f%02d.bin", j))
			data := randomBytes(uint64(900+100*i+j), 150*kib+j*4099)
			mustWrite(t, p, data, 0o644)
			files[label][p] = data
		}
		srcs[label] = src
		base.backup(exitOK, src)
	}
	pwFile := filepath.Join(base.dir, "pw2")
	mustWrite(t, pwFile, []byte(base.password+"\n"), 0o600)
	base.ok("key", "add", "--new-password-file", pwFile) // a second key, same password
	snapFile := map[string]string{}                      // label -> snapshot file name
	for _, s := range base.snapshots() {
		for label, src := range srcs {
			if contains(s.Paths, src) {
				snapFile[label] = s.ID
			}
		}
	}
	// C is forgotten (not pruned): its file is kept for the replay case.
	cBytes := mustRead(t, filepath.Join(base.repo, "snapshots", snapFile["C"]))
	base.ok("forget", snapFile["C"])
	delete(srcs, "C")
	wantCode(t, base.run("check", "--read-data"), exitOK)

	snapPath := func(repo, label string) string { return filepath.Join(repo, "snapshots", snapFile[label]) }
	largest := func(t *testing.T, repo, kind string) string {
		fs := repoFiles(t, repo, kind)
		sort.Slice(fs, func(i, j int) bool {
			a, _ := os.Stat(fs[i])
			b, _ := os.Stat(fs[j])
			return a.Size() > b.Size()
		})
		return fs[0]
	}
	cases := []hostileCase{
		{kind: "config", damage: "truncated", fatal: true, do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			truncateHalf(t, filepath.Join(repo, "config"))
			return []string{"config"}
		}},
		{kind: "config", damage: "oversized", fatal: true, do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			plantSparse(t, filepath.Join(repo, "config"))
			return []string{"config"}
		}},
		{kind: "config", damage: "garbage", fatal: true, do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			garbage(t, filepath.Join(repo, "config"), 300, rng)
			return []string{"config"}
		}},
		{kind: "config", damage: "swapped", fatal: true, do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			swap(t, filepath.Join(repo, "config"), snapPath(repo, "A"))
			return []string{"config"}
		}},
		{kind: "keys", damage: "truncated", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			p := repoFiles(t, repo, "keys")[0]
			truncateHalf(t, p)
			return []string{short(p)}
		}},
		{kind: "keys", damage: "oversized", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := plantPath(repo, "keys", rng)
			plantSparse(t, p)
			return []string{short(p)}
		}},
		{kind: "keys", damage: "garbage", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := repoFiles(t, repo, "keys")[1]
			garbage(t, p, 500, rng)
			return []string{short(p)}
		}},
		{kind: "keys", damage: "swapped", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			k := repoFiles(t, repo, "keys")
			swap(t, k[0], k[1])
			return []string{short(k[0]), short(k[1])}
		}},
		{kind: "index", damage: "truncated", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			p := largest(t, repo, "index")
			truncateHalf(t, p)
			return []string{short(p)}
		}},
		{kind: "index", damage: "oversized", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := plantPath(repo, "index", rng)
			plantSparse(t, p)
			return []string{short(p)}
		}},
		{kind: "index", damage: "garbage", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := largest(t, repo, "index")
			fi, _ := os.Stat(p)
			garbage(t, p, int(fi.Size()), rng)
			return []string{short(p)}
		}},
		{kind: "index", damage: "swapped", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			k := repoFiles(t, repo, "index")
			swap(t, k[0], k[1])
			return []string{short(k[0]), short(k[1])}
		}},
		{kind: "index", damage: "replayed", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			// An authentic index file under another name: a copy put
			// back by the storage owner (a replay under a new name).
			k := repoFiles(t, repo, "index")
			p := plantPath(repo, "index", rng)
			mustWrite(t, p, mustRead(t, k[0]), 0o600)
			return []string{short(p)}
		}},
		{kind: "snapshots", damage: "truncated", lost: []string{"A"}, do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			truncateHalf(t, snapPath(repo, "A"))
			return []string{snapFile["A"][:8]}
		}},
		{kind: "snapshots", damage: "oversized", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := plantPath(repo, "snapshots", rng)
			plantSparse(t, p)
			return []string{short(p)}
		}},
		{kind: "snapshots", damage: "garbage", lost: []string{"B"}, do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := snapPath(repo, "B")
			fi, _ := os.Stat(p)
			garbage(t, p, int(fi.Size()), rng)
			return []string{short(p)}
		}},
		{kind: "snapshots", damage: "swapped", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			swap(t, snapPath(repo, "A"), snapPath(repo, "B"))
			return []string{snapFile["A"][:8], snapFile["B"][:8]}
		}},
		{kind: "snapshots", damage: "replayed", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			// The forgotten snapshot C put back: authentic, so nothing
			// can tell it from a live one (docs/FORMAT.md §13).
			mustWrite(t, snapPath(repo, "C"), cBytes, 0o600)
			return nil
		}},
		{kind: "locks", damage: "oversized", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := plantPath(repo, "locks", rng)
			plantSparse(t, p)
			return []string{short(p)}
		}},
		{kind: "locks", damage: "garbage", do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := plantPath(repo, "locks", rng)
			garbage(t, p, 700, rng)
			return []string{short(p)}
		}},
		{kind: "locks", damage: "swapped", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			// A snapshot's content under a lock's name (and kind).
			p := filepath.Join(repo, "locks", snapFile["A"])
			mustWrite(t, p, mustRead(t, snapPath(repo, "A")), 0o600)
			return []string{snapFile["A"][:8]}
		}},
		{kind: "data", damage: "truncated", mayDamageFiles: true, do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			p := largest(t, repo, "data")
			truncateHalf(t, p)
			return []string{short(p)}
		}},
		{kind: "data", damage: "oversized", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			// Extended to 3 GiB with a hole: every blob is intact, the
			// trailer is gone.
			p := largest(t, repo, "data")
			if err := os.Truncate(p, hostileSparseSize); err != nil {
				t.Fatal(err)
			}
			return []string{short(p)}
		}},
		{kind: "data", damage: "garbage", mayDamageFiles: true, do: func(t *testing.T, repo string, rng *rand.Rand) []string {
			p := largest(t, repo, "data")
			fi, _ := os.Stat(p)
			garbage(t, p, int(fi.Size()), rng)
			return []string{short(p)}
		}},
		{kind: "data", damage: "swapped", do: func(t *testing.T, repo string, _ *rand.Rand) []string {
			k := repoFiles(t, repo, "data")
			swap(t, k[0], k[1])
			return []string{short(k[0]), short(k[1])}
		}},
	}
	rng := rand.New(rand.NewPCG(11, 4))
	var peak int64
	var peakWhat string
	for _, tc := range cases {
		t.Run(tc.kind+"/"+tc.damage, func(t *testing.T) {
			e := newEnv(t)
			e.password = base.password
			copyDir(t, base.repo, e.repo)
			names := tc.do(t, e.repo, rng)
			run := func(args ...string) result {
				t.Helper()
				r := e.run(args...)
				if strings.Contains(r.output(), "panic:") || strings.Contains(r.output(), "goroutine ") || r.code == 2 {
					t.Fatalf("panic:\n%v", r)
				}
				if m := maxRSS(r); m > peak {
					peak, peakWhat = m, tc.kind+"/"+tc.damage+": "+strings.Join(r.args, " ")
				}
				if m := maxRSS(r); m > hostileRSSBound {
					t.Errorf("peak RSS %d MiB above the bound of %d MiB:\n%v", m>>20, hostileRSSBound>>20, r)
				}
				return r
			}
			r := run("check", "--read-data")
			t.Logf("check --read-data (peak RSS %d MiB):\n%s", maxRSS(r)>>20, r.output())
			if len(names) > 0 && r.code == exitOK {
				t.Fatalf("check passes on a repository with damaged %v", names)
			}
			for _, n := range names {
				if !strings.Contains(r.output(), n) {
					t.Errorf("check does not name %s:\n%v", n, r)
				}
			}
			if tc.fatal {
				// The config cannot be rebuilt: every command refuses
				// the repository with a message naming it.
				for _, args := range [][]string{{"snapshots"}, {"repair", "index"}} {
					rr := run(args...)
					if rr.code == exitOK || !strings.Contains(rr.output(), "config") {
						t.Errorf("want a failure naming the config:\n%v", rr)
					}
				}
				return
			}
			if r.code != exitOK {
				for _, a := range e.followAdvice(r) {
					if a.code != exitOK {
						t.Errorf("check's advice failed:\n%v", a)
					}
					if m := maxRSS(a); m > hostileRSSBound {
						t.Errorf("peak RSS %d MiB above the bound:\n%v", m>>20, a)
					}
				}
				if tc.kind == "keys" || tc.kind == "locks" {
					// Misnamed keys renamed, damaged files deleted by
					// hand, as check's advice says.
					renamed := map[string]string{}
					for _, m := range renameRe.FindAllStringSubmatch(r.output(), -1) {
						renamed[m[1]] = m[2]
					}
					for from, to := range renamed {
						if err := os.Rename(filepath.Join(e.repo, from), filepath.Join(e.repo, to+".tmp")); err != nil {
							t.Fatal(err)
						}
					}
					for _, to := range renamed {
						os.Rename(filepath.Join(e.repo, to+".tmp"), filepath.Join(e.repo, to))
					}
					for _, n := range names {
						if len(renamed) > 0 {
							break
						}
						for _, p := range repoFiles(t, e.repo, tc.kind) {
							if strings.HasPrefix(filepath.Base(p), n) {
								os.Remove(p)
							}
						}
					}
				}
			}
			if rr := run("check", "--read-data"); rr.code != exitOK {
				t.Fatalf("after following check's advice, check still fails:\n%v", rr)
			}
			after := e.snapshots()
			for label, src := range srcs {
				lost := contains(tc.lost, label)
				var id string
				for _, s := range after {
					if contains(s.Paths, src) {
						id = s.ID
					}
				}
				if lost {
					continue
				}
				if id == "" {
					t.Errorf("snapshot %s (%s) is gone after repair; it was not damaged", label, snapFile[label][:8])
					continue
				}
				dst := filepath.Join(e.dir, "restore-"+label)
				run("restore", id, "--target", dst)
				damaged := 0
				for p, want := range files[label] {
					got, err := os.ReadFile(filepath.Join(dst, p))
					if err != nil && tc.mayDamageFiles {
						if _, derr := os.Stat(filepath.Join(dst, p+".damaged")); derr == nil {
							damaged++
							continue
						}
					}
					if err != nil || string(got) != string(want) {
						t.Errorf("snapshot %s: %s not restored bit-identical (%v)", label, p, err)
					}
				}
				t.Logf("snapshot %s: %d files restored bit-identical, %d lost (*.damaged)", label, len(files[label])-damaged, damaged)
			}
		})
	}
	t.Logf("peak RSS over every command of the campaign: %d MiB (%s); bound %d MiB", peak>>20, peakWhat, hostileRSSBound>>20)
}
