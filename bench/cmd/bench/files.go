package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files scenario (-files 1000000) measures backup, restore and the
// commands around them on a tree of that many real files: directories of
// 1,000 files of 31 bytes each (content unique per file), plus one flat
// directory of -files-flat entries (default 0: none; the directory of a
// million entries is also TestBigDirectory with IV_BIGDIR_ENTRIES). It
// reports wall time and peak RSS of: the first backup (tree building and
// file-cache writes), a backup with nothing changed (the parent snapshot
// path), a backup under another host name (no parent: the file cache
// answers for every file), restore, ls, stats, check and copy into a
// repository that shares the keys. Run it with
//
//	go run ./bench/cmd/bench -files 1000000 -work /var/tmp/iv-files
//
// and paste its table into the hand-written part of BENCHMARKS.md.

const filesPerDir = 1000

// makeFilesTree writes n files of 31 bytes below dir in directories of
// filesPerDir, and flat entries in dir/flat.
func makeFilesTree(dir string, n, flat int) error {
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("d%04d", i/filesPerDir/100), fmt.Sprintf("d%06d", i/filesPerDir))
		if i%filesPerDir == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		data := fmt.Sprintf("file %025d\n", i) // 31 bytes, unique
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("IMG_%07d.jpg", i)), []byte(data), 0o644); err != nil {
			return err
		}
	}
	if flat > 0 {
		d := filepath.Join(dir, "flat")
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for i := range flat {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("IMG_%07d.jpg", i)), nil, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func filesMain(c config, n, flat int) error {
	v, err := buildVault(c.Work)
	if err != nil {
		return err
	}
	src := filepath.Join(c.Work, fmt.Sprintf("files%d", n))
	if _, err := os.Stat(src + ".built"); err != nil {
		os.RemoveAll(src)
		logf("files: writing %d files (+%d flat) in %s", n, flat, src)
		start := time.Now()
		if err := makeFilesTree(src, n, flat); err != nil {
			return err
		}
		logf("files: written in %s", time.Since(start).Round(time.Second))
		if err := os.WriteFile(src+".built", nil, 0o644); err != nil {
			return err
		}
	}
	repoDir := filepath.Join(c.Work, "repo")
	dst := filepath.Join(c.Work, "copy")
	target := filepath.Join(c.Work, "restored")
	for _, p := range []string{repoDir, dst} {
		removeRepo(p)
	}
	os.RemoveAll(target)
	if err := v.Init(repoDir); err != nil {
		return err
	}
	copyInit := v.cmd(dst, "init", "--copy-chunker-params-from", repoDir)
	copyInit.Env = append(copyInit.Env, "IMMICH_VAULT_FROM_PASSWORD="+password)
	steps := []struct {
		name string
		cmd  command
	}{
		{"backup (first)", v.cmd(repoDir, "backup", src)},
		{"backup (nothing changed, parent snapshot)", v.cmd(repoDir, "backup", src)},
		{"backup --host other (no parent: file cache)", v.cmd(repoDir, "backup", "--host", "other", src)},
		{"ls latest (every entry)", v.cmd(repoDir, "ls", "latest")},
		{"stats", v.cmd(repoDir, "stats")},
		{"check", v.cmd(repoDir, "check")},
		{"restore latest", v.cmd(repoDir, "restore", "latest", "--target", target)},
		{"init --copy-chunker-params-from", copyInit},
		{"copy latest (shared keys)", v.cmd(dst, "copy", "--from-repo", repoDir, "latest")},
	}
	steps[len(steps)-1].cmd.Env = append(steps[len(steps)-1].cmd.Env, "IMMICH_VAULT_FROM_PASSWORD="+password)
	var b strings.Builder
	fmt.Fprintf(&b, "| %d files in directories of %d, %d flat | s | peak RSS MiB [anon / file] |\n|---|---|---|\n", n, filesPerDir, flat)
	for _, s := range steps {
		m, out, err := run(s.cmd)
		if err != nil {
			logf("files: %s: %v: %s", s.name, err, tail(string(out), 300))
			fmt.Fprintf(&b, "| `%s` | failed | %s |\n", s.name, strings.ReplaceAll(tail(string(out), 200), "\n", " "))
			continue
		}
		logf("files: %-45s %7.2fs rss %4d MiB [anon %d / file %d]", s.name, m.Wall.Seconds(), m.MaxRSS>>20, m.MaxAnon>>20, m.MaxFile>>20)
		fmt.Fprintf(&b, "| `%s` | %.2f | %.0f [%.0f / %.0f] |\n", s.name, m.Wall.Seconds(), float64(m.MaxRSS)/(1<<20), float64(m.MaxAnon)/(1<<20), float64(m.MaxFile)/(1<<20))
	}
	fmt.Print(b.String())
	if !c.KeepWork {
		os.RemoveAll(target)
		removeRepo(repoDir)
		removeRepo(dst)
	}
	return nil
}
