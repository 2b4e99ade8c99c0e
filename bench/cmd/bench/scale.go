package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/index"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/local"
	"github.com/immich-vault/immich-vault/repo/data"
)

// The scale scenario (-scale 1000000,10000000) measures the maintenance
// commands on repositories of that many data blobs. It is not part of the
// default run (building the 10 M-blob repository takes minutes and about
// 1 GB of disk); run it with
//
//	go run ./bench/cmd/bench -scale 1000000,10000000 -work /var/tmp/iv-scale -keep
//
// and paste its table into the hand-written part of BENCHMARKS.md. With
// -keep the repositories are reused by the next run.
//
// The repositories are real, only small: every data blob is a real sealed
// blob of 8 bytes in a real pack (64 blobs per pack, as in the big-index
// scenario), so that check reads real pack headers; trees describe files of
// 5 blobs each (a 5 MiB photo at the 1 MiB average chunk), 500 files per
// directory, 64 directories per parent. The snapshots reference 90 % of the
// data blobs, so that prune finds unused data. scaleSnapshots snapshots
// share that tree, each with its own time.

const (
	scaleBlobsPerPack  = 64
	scaleBlobsPerFile  = 5
	scaleFilesPerDir   = 500
	scaleDirsPerParent = 64
	scaleSnapshots     = 30
	scaleUsedShare     = 0.9
)

// buildScaleRepo fills the (initialised, empty) repository at dir.
func buildScaleRepo(ctx context.Context, dir string, n int) error {
	be, err := local.Open(dir)
	if err != nil {
		return err
	}
	r, err := repo.Open(ctx, be, []byte(password), repo.Options{NoCache: true})
	if err != nil {
		return err
	}
	defer r.Close()
	a := r.Key().AEAD()
	idx := &index.File{}
	inIdx := 0
	flushIdx := func() error {
		if len(idx.Packs) == 0 {
			return nil
		}
		if _, err := r.SaveIndexFile(ctx, idx); err != nil {
			return err
		}
		idx, inIdx = &index.File{}, 0
		return nil
	}
	var buf bytes.Buffer
	var w *pack.Writer
	flushPack := func() error {
		if w == nil || w.Count() == 0 {
			return nil
		}
		entries, err := w.Finalize()
		if err != nil {
			return err
		}
		id, err := pack.Name(buf.Bytes())
		if err != nil {
			return err
		}
		if err := be.Save(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, backend.NewByteReader(buf.Bytes())); err != nil {
			return err
		}
		idx.Packs = append(idx.Packs, index.PackBlobs{Pack: id, Entries: entries})
		inIdx += len(entries)
		w = nil
		buf.Reset()
		if inIdx >= 250_000 {
			return flushIdx()
		}
		return nil
	}
	add := func(t pack.BlobType, payload []byte, perPack int) (repo.ID, error) {
		id := r.Key().BlobID(payload)
		h := pack.BlobHandle{ID: id, Type: t}
		if w == nil {
			w = pack.NewWriter(&buf, a)
		}
		if err := w.Add(h, pack.CompressionNone, pack.SealBlob(a, nil, h, pack.CompressionNone, payload), len(payload)); err != nil {
			return id, err
		}
		if w.Count() >= perPack {
			return id, flushPack()
		}
		return id, nil
	}
	used := int(float64(n) * scaleUsedShare)
	var files []*data.Node
	var content []repo.ID
	var p [8]byte
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(p[:], uint64(i))
		id, err := add(pack.DataBlob, p[:], scaleBlobsPerPack)
		if err != nil {
			return err
		}
		if i >= used {
			continue
		}
		content = append(content, id)
		if len(content) == scaleBlobsPerFile || i == used-1 {
			files = append(files, &data.Node{Name: fmt.Sprintf("IMG_%08d.jpg", len(files)), Type: data.NodeFile,
				Mode: 0o644, ModTime: time.Unix(1.7e9+int64(len(files)), 0).UTC(), Size: uint64(len(content)) << 20, Content: content})
			content = nil
		}
	}
	if err := flushPack(); err != nil {
		return err
	}
	// Trees: leaves of scaleFilesPerDir files, then parents of
	// scaleDirsPerParent directories up to one root, in packs of their own.
	saveTree := func(t *data.Tree) (repo.ID, error) {
		b, err := data.EncodeTree(t)
		if err != nil {
			return repo.ID{}, err
		}
		return add(pack.TreeBlob, b, 256)
	}
	var level []repo.ID
	for i := 0; i < len(files); i += scaleFilesPerDir {
		t := &data.Tree{Nodes: files[i:min(i+scaleFilesPerDir, len(files))]}
		id, err := saveTree(t)
		if err != nil {
			return err
		}
		level = append(level, id)
	}
	for len(level) > 1 || len(level) == 0 {
		var next []repo.ID
		for i := 0; i < len(level); i += scaleDirsPerParent {
			t := &data.Tree{}
			for j, id := range level[i:min(i+scaleDirsPerParent, len(level))] {
				sub := id
				t.Nodes = append(t.Nodes, &data.Node{Name: fmt.Sprintf("d%05d", i+j), Type: data.NodeDir, Mode: 0o755, ModTime: time.Unix(1.7e9, 0).UTC(), Subtree: &sub})
			}
			id, err := saveTree(t)
			if err != nil {
				return err
			}
			next = append(next, id)
		}
		level = next
		if len(level) == 0 {
			break
		}
	}
	if err := flushPack(); err != nil {
		return err
	}
	if err := flushIdx(); err != nil {
		return err
	}
	for s := 0; s < scaleSnapshots; s++ {
		sn := &repo.Snapshot{Time: time.Unix(1.7e9+int64(s)*86400, 0).UTC(), Host: "nas", Paths: []string{"/photos"}, Tree: level[0]}
		if _, err := r.SaveSnapshot(ctx, sn); err != nil {
			return err
		}
	}
	return nil
}

// scaleRow is one command's measurement at one size.
type scaleRow struct {
	Command string
	M       map[int]measurement
	Err     map[int]string
}

// buildVault creates the directory work and builds immich-vault into it
// (the scale and files runs).
func buildVault(work string) (*vault, error) {
	bin := filepath.Join(work, "immich-vault")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/immich-vault").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %v: %s", err, out)
	}
	return &vault{bin: bin}, nil
}

func scaleMain(c config, sizes []int) error {
	v, err := buildVault(c.Work)
	if err != nil {
		return err
	}
	cmds := [][]string{
		{"snapshots"},
		{"stats"},
		{"forget", "--keep-last", "10", "--dry-run"},
		{"prune", "--dry-run"},
		{"check"},
		{"repair", "snapshots", "--dry-run"},
		{"repair", "index", "--dry-run"},
	}
	// Restore planning (the walk of every tree, nothing selected) and copy
	// need more than -r: scaleExtra builds them per size.
	extraNames := []string{"restore latest --include /no-such-path (planning walk, nothing written)", "copy latest (destination shares the keys)"}
	rows := make([]*scaleRow, len(cmds), len(cmds)+len(extraNames))
	for i, a := range cmds {
		rows[i] = &scaleRow{Command: strings.Join(a, " "), M: map[int]measurement{}, Err: map[int]string{}}
	}
	for _, name := range extraNames {
		rows = append(rows, &scaleRow{Command: name, M: map[int]measurement{}, Err: map[int]string{}})
	}
	for _, n := range sizes {
		dir := filepath.Join(c.Work, fmt.Sprintf("scale%d", n))
		if _, err := os.Stat(filepath.Join(dir, ".scale-built")); err != nil {
			removeRepo(dir)
			if err := v.Init(dir); err != nil {
				return err
			}
			logf("scale: building %d blobs in %s", n, dir)
			start := time.Now()
			if err := buildScaleRepo(context.Background(), dir, n); err != nil {
				return fmt.Errorf("build scale repository: %w", err)
			}
			logf("scale: built in %s", time.Since(start).Round(time.Second))
			if err := os.WriteFile(filepath.Join(dir, ".scale-built"), nil, 0o644); err != nil {
				return err
			}
		}
		// The first command that syncs the index builds the cache
		// (snapshots does not); measured separately.
		os.RemoveAll(dir + ".cache")
		m, _, err := run(v.cmd(dir, "forget", "--keep-last", "1000", "--dry-run"))
		if err != nil {
			return err
		}
		logf("scale %d: first open (builds the cache) %.2fs rss %d MiB", n, m.Wall.Seconds(), m.MaxRSS>>20)
		extra, err := scaleExtra(v, dir)
		if err != nil {
			return err
		}
		for i := range rows {
			var c command
			if i < len(cmds) {
				c = v.cmd(dir, cmds[i]...)
			} else {
				c = extra[i-len(cmds)]
			}
			m, out, err := run(c)
			if err != nil {
				rows[i].Err[n] = tail(string(out), 300)
				logf("scale %d: %s: %v: %s", n, rows[i].Command, err, tail(string(out), 300))
				continue
			}
			rows[i].M[n] = m
			logf("scale %d: %-30s %7.2fs rss %4d MiB [anon %d / file %d]", n, rows[i].Command, m.Wall.Seconds(), m.MaxRSS>>20, m.MaxAnon>>20, m.MaxFile>>20)
		}
		if !c.KeepWork {
			removeRepo(dir)
		}
	}
	fmt.Print(scaleTable(rows, sizes))
	return nil
}

func scaleTable(rows []*scaleRow, sizes []int) string {
	var b strings.Builder
	b.WriteString("| command |")
	for _, n := range sizes {
		fmt.Fprintf(&b, " %d blobs: s | peak RSS MiB [anon / file] |", n)
	}
	if len(sizes) == 2 {
		b.WriteString(" growth time | growth RSS |")
	}
	b.WriteString("\n|---|")
	for range sizes {
		b.WriteString("---|---|")
	}
	if len(sizes) == 2 {
		b.WriteString("---|---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` |", r.Command)
		for _, n := range sizes {
			if e, ok := r.Err[n]; ok {
				fmt.Fprintf(&b, " failed | %s |", strings.ReplaceAll(strings.TrimSpace(e), "\n", " "))
				continue
			}
			m := r.M[n]
			fmt.Fprintf(&b, " %.2f | %.0f [%.0f / %.0f] |", m.Wall.Seconds(), float64(m.MaxRSS)/(1<<20), float64(m.MaxAnon)/(1<<20), float64(m.MaxFile)/(1<<20))
		}
		if len(sizes) == 2 {
			a, z := r.M[sizes[0]], r.M[sizes[1]]
			if a.Wall > 0 && a.MaxRSS > 0 && z.Wall > 0 {
				fmt.Fprintf(&b, " %.1f× | %.2f× |", z.Wall.Seconds()/a.Wall.Seconds(), float64(z.MaxRSS)/float64(a.MaxRSS))
			} else {
				b.WriteString(" — | — |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// scaleExtra returns the restore-planning and copy commands for the scale
// repository dir (a fresh copy destination sharing its keys is created).
func scaleExtra(v *vault, dir string) ([]command, error) {
	target := dir + ".restore"
	os.RemoveAll(target)
	dst := dir + ".copy"
	removeRepo(dst)
	in := v.cmd(dst, "init", "--copy-chunker-params-from", dir)
	in.Env = append(in.Env, "IMMICH_VAULT_FROM_PASSWORD="+password)
	if _, out, err := run(in); err != nil {
		return nil, fmt.Errorf("init copy destination: %v: %s", err, out)
	}
	cp := v.cmd(dst, "copy", "--from-repo", dir, "latest")
	cp.Env = append(cp.Env, "IMMICH_VAULT_FROM_PASSWORD="+password)
	return []command{
		v.cmd(dir, "restore", "latest", "--target", target, "--include", "/no-such-path"),
		cp,
	}, nil
}
