package repo_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/repotest"
	"github.com/immich-vault/immich-vault/restorer"
)

// copyDir copies a repository directory (to corrupt a copy per case).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flipByte flips one random bit of one random file of kind t in dir and
// returns the file's name.
func flipByte(t *testing.T, dir string, ft backend.FileType, rng *rand.Rand) string {
	t.Helper()
	sub := map[backend.FileType]string{backend.PackFile: "data", backend.IndexFile: "index", backend.SnapshotFile: "snapshots", backend.KeyFile: "keys"}[ft]
	var files []string
	filepath.Walk(filepath.Join(dir, sub), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("no %s files", sub)
	}
	p := files[rng.IntN(len(files))]
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := rng.IntN(len(b))
	b[i] ^= 1 << rng.IntN(8)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(p)
}

// TestCorruptionCampaign flips random bits in packs, index files, snapshots
// and key files of copies of one repository: check detects every flip, and
// repair index + repair snapshots give a repository that passes check in
// which every file not touched by the damage restores bit-identical.
func TestCorruptionCampaign(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	lb, err := local.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	opts := repotest.Options(t)
	opts.PackSize = 1 << 20
	r := repotest.InitIn(t, lb, opts)
	if _, err := r.AddKey(ctx, repotest.Password); err != nil { // a second key with the same password
		t.Fatal(err)
	}
	src := randTree(t, 8, 20)
	repotest.WriteFiles(t, src, map[string]string{"small/a.txt": "alpha", "small/b.txt": strings.Repeat("b", 5000)})
	repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	src2 := randTree(t, 3, 21)
	repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src2}})
	r.Close()
	srcOf := map[string]string{}
	for _, s := range []string{src, src2} {
		srcOf[s] = s
	}
	rng := rand.New(rand.NewPCG(7, 11))
	trials := 0
	for _, ft := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.KeyFile} {
		for trial := range corruptionTrials() {
			trials++
			dir := t.TempDir()
			copyDir(t, base, dir)
			name := flipByte(t, dir, ft, rng)
			be, err := local.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			cr, err := repo.Open(ctx, be, repotest.Password, repotest.Options(t))
			if err != nil {
				t.Fatalf("%s trial %d (%s): open: %v", ft, trial, name[:8], err)
			}
			res, err := cr.Check(ctx, repo.CheckOptions{ReadData: true})
			if err != nil {
				t.Fatalf("%s trial %d: check: %v", ft, trial, err)
			}
			if res.OK() {
				t.Fatalf("%s trial %d: a flipped bit in %s went unnoticed by check", ft, trial, name[:8])
			}
			// Repair.
			if _, err := cr.RepairIndex(ctx, repo.RepairIndexOptions{ReadData: true}); err != nil {
				t.Fatalf("%s trial %d: repair index: %v", ft, trial, err)
			}
			cr2 := repotest.Reopen(t, be, repotest.Options(t))
			rep, err := cr2.RepairSnapshots(ctx, repo.RepairSnapshotsOptions{})
			if err != nil {
				t.Fatalf("%s trial %d: repair snapshots: %v", ft, trial, err)
			}
			if ft == backend.KeyFile {
				// A damaged key file is reported; the other key still opens
				// the repository and nothing else is affected. Remove it.
				if err := be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: name}); err != nil {
					t.Fatal(err)
				}
			}
			after, err := cr2.Check(ctx, repo.CheckOptions{ReadData: true})
			if err != nil {
				t.Fatal(err)
			}
			if !after.OK() {
				t.Fatalf("%s trial %d: after repair: problems %v damaged %v", ft, trial, after.Problems, after.Damaged)
			}
			damaged := map[string]bool{}
			for _, rs := range rep {
				for _, f := range rs.DamagedFiles {
					damaged[f] = true
				}
			}
			snaps, err := cr2.Snapshots(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			restored := 0
			for _, sn := range snaps {
				for _, p := range sn.Paths {
					lostDir := false
					for d := range damaged {
						if strings.HasSuffix(d, "/") && strings.HasPrefix(p+"/", d[:len(d)-1]) {
							lostDir = true // a directory listing on the way was destroyed
						}
					}
					if lostDir {
						continue
					}
					target := t.TempDir()
					repotest.Restore(t, cr2, sn, restorer.RestoreOptions{Target: target, SubPath: p})
					want, got := repotest.ReadTree(t, srcOf[p]), repotest.ReadTree(t, target)
					for f, content := range want {
						if damaged[p+"/"+f] {
							continue
						}
						if g, ok := got[f]; !ok || g != content {
							if _, dmg := got[f+".damaged"]; dmg {
								continue
							}
							t.Fatalf("%s trial %d: %s/%s not restored intact (damaged: %v)", ft, trial, p, f, damaged)
						}
						restored++
					}
				}
			}
			lost := 0
			if len(snaps) < 2 {
				lost = 1
			}
			t.Logf("%s trial %d: flipped %s: %d problems, %d damaged blobs; %d snapshots rewritten, %d lost; %d files restored intact",
				ft, trial, name[:8], len(res.Problems), len(res.Damaged), len(rep), lost, restored)
			cr.Close()
		}
	}
	t.Logf("%d corruption trials: all detected, all repaired", trials)
}

func TestParseSubset(t *testing.T) {
	for _, tc := range []struct {
		in  string
		ok  bool
		chk func(*repo.Subset) bool
	}{
		{"1/3", true, func(s *repo.Subset) bool { return s.N == 1 && s.M == 3 }},
		{"10%", true, func(s *repo.Subset) bool { return s.Percent == 10 }},
		{"500M", true, func(s *repo.Subset) bool { return s.Bytes == 500<<20 }},
		{"2G", true, func(s *repo.Subset) bool { return s.Bytes == 2<<30 }},
		{"1024", true, func(s *repo.Subset) bool { return s.Bytes == 1024 }},
		{"0/3", false, nil}, {"4/3", false, nil}, {"1/0", false, nil}, {"0%", false, nil},
		{"101%", false, nil}, {"", false, nil}, {"abc", false, nil}, {"-5M", false, nil},
	} {
		s, err := repo.ParseSubset(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !tc.chk(s)) {
			t.Errorf("ParseSubset(%q) = %+v, %v", tc.in, s, err)
		}
	}
}

// Running 1/m ... m/m reads every pack exactly once.
func TestCheckReadDataSubsetCoversAll(t *testing.T) {
	ctx := context.Background()
	r := smallPackRepo(t)
	repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{randTree(t, 12, 30)}})
	full, err := r.Check(ctx, repo.CheckOptions{ReadData: true})
	if err != nil || !full.OK() {
		t.Fatalf("check: %v %v", full, err)
	}
	total := 0
	for n := uint64(1); n <= 3; n++ {
		res, err := r.Check(ctx, repo.CheckOptions{ReadDataSubset: &repo.Subset{N: n, M: 3}})
		if err != nil || !res.OK() {
			t.Fatal(err)
		}
		total += res.PacksRead
	}
	if total != full.PacksRead || total < 3 {
		t.Fatalf("subsets read %d packs, full check %d", total, full.PacksRead)
	}
	s, _ := repo.ParseSubset("50%")
	res, err := r.Check(ctx, repo.CheckOptions{ReadDataSubset: s})
	if err != nil || res.PacksRead != (full.PacksRead+1)/2 {
		t.Fatalf("50%%: read %d of %d packs (%v)", res.PacksRead, full.PacksRead, err)
	}
}

// repair index adopts packs no index file lists.
func TestRepairIndexAdopts(t *testing.T) {
	ctx := context.Background()
	r, dir := repotest.NewLocal(t)
	src := randTree(t, 2, 40)
	sn := repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{src}})
	os.RemoveAll(filepath.Join(dir, "index"))
	os.Mkdir(filepath.Join(dir, "index"), 0o700)
	r2 := repotest.Reopen(t, r.Backend(), repotest.Options(t))
	if res, _ := r2.Check(ctx, repo.CheckOptions{}); res.OK() {
		t.Fatal("check passes without index")
	}
	dry, err := r2.RepairIndex(ctx, repo.RepairIndexOptions{DryRun: true})
	if err != nil || dry.AdoptedPacks != 2 || dry.NewIndexFiles != 1 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	res, err := r2.RepairIndex(ctx, repo.RepairIndexOptions{})
	if err != nil || res.AdoptedPacks != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	mustCheck(t, r2)
	restoreEquals(t, repotest.Reopen(t, r.Backend(), repotest.Options(t)), sn, src)
}

// corruptionTrials per file kind: 2, or IV_CORRUPTION_TRIALS (make crash).
func corruptionTrials() int {
	if n, err := strconv.Atoi(os.Getenv("IV_CORRUPTION_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 2
}

func FuzzParseSubset(f *testing.F) {
	for _, s := range []string{"1/3", "10%", "500M", "2G", "0/0", "%", "1e308T", "NaN%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sub, err := repo.ParseSubset(s)
		if err != nil {
			return
		}
		if sub.M == 0 && !(sub.Percent > 0 && sub.Percent <= 100) && sub.Bytes <= 0 {
			t.Fatalf("%q accepted as %+v", s, sub)
		}
		if sub.M > 0 && (sub.N < 1 || sub.N > sub.M) {
			t.Fatalf("%q accepted as %+v", s, sub)
		}
	})
}
