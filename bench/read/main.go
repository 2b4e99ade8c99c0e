// Command read is the read-back scenario of issues 10 and 14: how long
// `dump` takes to stream a database dump out of a repository, the read
// that `immich restore` (loading the dump into PostgreSQL) and `immich
// verify --checksums` do with the same reader.
//
// It generates two SQL dumps with bench/corpus (Immich-like pg_dump, a
// large one, default 1 GiB, and a small one, default 64 MiB), backs them
// up with `backup --stdin` into a local and an S3 repository (a real
// versitygw started by internal/s3test), and times `dump` of each:
//
//   - local repository, large dump;
//   - S3 repository on 127.0.0.1, large and small dumps;
//   - the same S3 repository through internal/netdelay adding -rtt of
//     round-trip time (default 50 ms), small dump.
//
// Every dump's output is hashed and checked against the input. Give
// -before BIN to time an older immich-vault binary on the same
// repositories (the format is the same), and restic is timed the same way
// when it is on PATH (its own repositories, `restic backup --stdin`,
// `restic dump`).
//
//	go run ./bench/read -before /tmp/immich-vault-old
//
// Measured when the FileReader came in (2 shared cores under a load of
// ~10, versitygw on 127.0.0.1, restic not installed; best of 2 runs, one
// for the runs over 30 s), against the blob-by-blob reader before it:
//
//	                        1062 MiB local  1062 MiB S3  66 MiB S3  66 MiB S3 + 50 ms RTT
//	FileReader                    5.02 s        5.90 s     1.07 s        1.98 s
//	before (one GET per blob)     7.48 s      112.08 s     7.72 s      206.23 s
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/immich-vault/immich-vault/bench/corpus"
	"github.com/immich-vault/immich-vault/internal/netdelay"
	"github.com/immich-vault/immich-vault/internal/s3test"
)

const password = "bench-read-password-not-secret"

// bytesPerRow is about what one asset costs in corpus C's dump (asset,
// exif, job status and a 512-dim embedding rows).
const bytesPerRow = 6600

func main() {
	largeMiB := flag.Int("large-mib", 1024, "size of the large dump in MiB (approximate)")
	smallMiB := flag.Int("small-mib", 64, "size of the small dump in MiB (approximate)")
	rtt := flag.Duration("rtt", 50*time.Millisecond, "round-trip time the proxy adds")
	runs := flag.Int("runs", 2, "timed runs of each fast case (the best is reported)")
	before := flag.String("before", "", "an older immich-vault binary to time as well")
	bin := flag.String("bin", "", "immich-vault binary to measure (default: go build ./cmd/immich-vault)")
	slowLimit := flag.Duration("slow-limit", 10*time.Minute, "give up on a case after this long")
	flag.Parse()
	if err := run(*largeMiB, *smallMiB, *rtt, *runs, *before, *bin, *slowLimit); err != nil {
		fmt.Fprintln(os.Stderr, "bench/read:", err)
		os.Exit(1)
	}
}

type dumpFile struct {
	name string // in the snapshot: /<name> is found by ls
	path string
	size int64
	sum  []byte
}

// program is one binary reading the repositories.
type program struct {
	name string
	// setup creates repo and backs up files into it, one snapshot each;
	// it returns their snapshot IDs by file name.
	setup func(ctx context.Context, repo string, env []string, files []*dumpFile) (map[string]string, error)
	dump  func(ctx context.Context, repo string, env []string, snap string, f *dumpFile) (time.Duration, error)
}

func run(largeMiB, smallMiB int, rtt time.Duration, runs int, before, bin string, slowLimit time.Duration) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "immich-vault-bench-read-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "immich-vault")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/immich-vault").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	large, err := makeDump(filepath.Join(tmp, "large"), "large.sql", largeMiB)
	if err != nil {
		return err
	}
	small, err := makeDump(filepath.Join(tmp, "small"), "small.sql", smallMiB)
	if err != nil {
		return err
	}
	fmt.Printf("dumps: %s %.1f MiB, %s %.1f MiB (bench/corpus C)\n", large.name, mib(large.size), small.name, mib(small.size))

	srv, err := s3test.Start()
	if err != nil {
		return fmt.Errorf("S3 server: %w (run scripts/deps.d/20-versitygw.sh)", err)
	}
	defer srv.Stop()
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		return err
	}
	px, err := netdelay.Start(u.Host, rtt)
	if err != nil {
		return err
	}
	defer px.Close()
	proxied := strings.Replace(srv.Endpoint, u.Host, px.Addr(), 1)

	progs := []*program{vaultProgram("immich-vault (this tree)", bin, true)}
	if before != "" {
		progs = append(progs, vaultProgram("immich-vault (-before)", before, false))
	}
	if p, err := exec.LookPath("restic"); err == nil {
		progs = append(progs, resticProgram(p))
	} else {
		fmt.Println("restic: not on PATH, not compared")
	}

	type result struct {
		prog, where string
		f           *dumpFile
		d           time.Duration
		err         error
	}
	var results []result
	// repos are a program family's repositories: the -before binary reads
	// the ones this tree's binary wrote (the format is the same).
	type repos struct {
		local, s3, slow string
		snaps           map[string]string
	}
	setup := func(i int, p *program) (*repos, error) {
		bucket := fmt.Sprintf("bench-read-%d-%d", i, time.Now().UnixNano()%1e9)
		if _, err := srv.Client("").CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			return nil, fmt.Errorf("create bucket: %w", err)
		}
		rs := &repos{local: filepath.Join(tmp, fmt.Sprintf("local-%d", i)),
			s3: "s3:" + srv.Endpoint + "/" + bucket + "/repo", slow: "s3:" + proxied + "/" + bucket + "/repo",
			snaps: map[string]string{}}
		fmt.Printf("%s: backing up the dumps (local and S3)\n", p.name)
		for _, r := range []struct {
			repo  string
			env   []string
			files []*dumpFile
		}{{rs.local, nil, []*dumpFile{large}}, {rs.s3, srv.Env(), []*dumpFile{large, small}}} {
			snaps, err := p.setup(ctx, r.repo, r.env, r.files)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			for k, v := range snaps {
				rs.snaps[r.repo+"\x00"+k] = v
			}
		}
		return rs, nil
	}
	var vaultRepos *repos
	for i, p := range progs {
		rs := vaultRepos
		if p.setup != nil {
			var err error
			if rs, err = setup(i, p); err != nil {
				return err
			}
			if vaultRepos == nil {
				vaultRepos = rs
			}
		}
		env := srv.Env()
		cases := []struct {
			where    string
			repo     string // for the snapshot IDs
			dumpRepo string
			env      []string
			f        *dumpFile
		}{
			{"local", rs.local, rs.local, nil, large},
			{"S3 (127.0.0.1)", rs.s3, rs.s3, env, large},
			{"S3 (127.0.0.1)", rs.s3, rs.s3, env, small},
			{fmt.Sprintf("S3 + %v RTT", rtt), rs.s3, rs.slow, env, small},
		}
		for _, c := range cases {
			best := time.Duration(0)
			var err error
			for range runs {
				cctx, cancel := context.WithTimeout(ctx, slowLimit)
				d, derr := p.dump(cctx, c.dumpRepo, c.env, rs.snaps[c.repo+"\x00"+c.f.name], c.f)
				cancel()
				if derr != nil {
					err = derr
					break
				}
				if best == 0 || d < best {
					best = d
				}
				if d > 30*time.Second {
					break // one run of a slow case is enough
				}
			}
			fmt.Printf("  %-26s %-22s %-10s %s\n", p.name, c.where, c.f.name, show(c.f, best, err))
			results = append(results, result{p.name, c.where, c.f, best, err})
		}
	}
	fmt.Println()
	fmt.Println("| program | repository | file | dump time | rate |")
	fmt.Println("| --- | --- | --- | ---: | ---: |")
	for _, r := range results {
		if r.err != nil {
			fmt.Printf("| %s | %s | %s (%.0f MiB) | %v | |\n", r.prog, r.where, r.f.name, mib(r.f.size), r.err)
			continue
		}
		fmt.Printf("| %s | %s | %s (%.0f MiB) | %.2f s | %.0f MiB/s |\n", r.prog, r.where, r.f.name, mib(r.f.size), r.d.Seconds(), mib(r.f.size)/r.d.Seconds())
	}
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func show(f *dumpFile, d time.Duration, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%7.2f s  %7.1f MiB/s", d.Seconds(), mib(f.size)/d.Seconds())
}

// makeDump writes a one-day corpus-C dump of about mib MiB into dir.
func makeDump(dir, name string, mibs int) (*dumpFile, error) {
	rows := max(1, mibs<<20/bytesPerRow)
	if _, err := corpus.GenerateC(dir, 1, rows, 42); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, corpus.DayName(1))
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, err
	}
	return &dumpFile{name: name, path: p, size: n, sum: h.Sum(nil)}, nil
}

// checkedOutput hashes what a dump writes.
type checkedOutput struct {
	h hash.Hash
	n int64
}

func (c *checkedOutput) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// timeDump runs a dump command and checks its output against f.
func timeDump(ctx context.Context, f *dumpFile, env []string, args ...string) (time.Duration, error) {
	out := &checkedOutput{h: sha256.New()}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if ctx.Err() != nil {
		return d, fmt.Errorf("gave up after %v", d.Round(time.Second))
	}
	if err != nil {
		return d, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if out.n != f.size || !bytes.Equal(out.h.Sum(nil), f.sum) {
		return d, fmt.Errorf("output of %d bytes differs from the %d backed up", out.n, f.size)
	}
	return d, nil
}

func run1(ctx context.Context, env []string, stdin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// snapshotPath finds /…/name in the listing of ls-like output.
func snapshotPath(listing []byte, name string) (string, error) {
	for _, l := range strings.Split(string(listing), "\n") {
		if strings.HasSuffix(l, "/"+name) {
			return l, nil
		}
	}
	return "", errors.New(name + " not found in the snapshot listing")
}

func vaultProgram(name, bin string, owner bool) *program {
	base := func(repo string) []string {
		return []string{bin, "-q", "-r", repo, "--cache-dir", filepath.Join(os.TempDir(), "bench-read-cache", filepath.Base(bin))}
	}
	env := func(e []string) []string { return append([]string{"IMMICH_VAULT_PASSWORD=" + password}, e...) }
	p := &program{name: name}
	if owner {
		p.setup = func(ctx context.Context, repo string, e []string, files []*dumpFile) (map[string]string, error) {
			if _, err := run1(ctx, env(e), "", append(base(repo), "init")...); err != nil {
				return nil, err
			}
			snaps := map[string]string{}
			for _, f := range files {
				out, err := run1(ctx, env(e), f.path, append(base(repo), "--json", "backup", "--stdin", "--stdin-filename", f.name)...)
				if err != nil {
					return nil, err
				}
				if snaps[f.name], err = jsonField(out, "snapshot_id"); err != nil {
					return nil, err
				}
			}
			return snaps, nil
		}
	}
	p.dump = func(ctx context.Context, repo string, e []string, snap string, f *dumpFile) (time.Duration, error) {
		ls, err := run1(ctx, env(e), "", append(base(repo), "ls", snap)...)
		if err != nil {
			return 0, err
		}
		path, err := snapshotPath(ls, f.name)
		if err != nil {
			return 0, err
		}
		return timeDump(ctx, f, env(e), append(base(repo), "dump", snap, path)...)
	}
	return p
}

func resticProgram(bin string) *program {
	env := func(repo string, e []string) []string {
		return append([]string{"RESTIC_PASSWORD=" + password, "RESTIC_REPOSITORY=" + repo,
			"RESTIC_CACHE_DIR=" + filepath.Join(os.TempDir(), "bench-read-cache", "restic")}, e...)
	}
	p := &program{name: "restic"}
	p.setup = func(ctx context.Context, repo string, e []string, files []*dumpFile) (map[string]string, error) {
		if _, err := run1(ctx, env(repo, e), "", bin, "init"); err != nil {
			return nil, err
		}
		for _, f := range files {
			if _, err := run1(ctx, env(repo, e), f.path, bin, "backup", "--stdin", "--stdin-filename", f.name, "--tag", f.name); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	p.dump = func(ctx context.Context, repo string, e []string, _ string, f *dumpFile) (time.Duration, error) {
		return timeDump(ctx, f, env(repo, e), bin, "dump", "--tag", f.name, "latest", "/"+f.name)
	}
	return p
}

// jsonField extracts a string field of the first object of a JSON array
// or object stream without a schema (both programs' snapshot listings).
func jsonField(b []byte, key string) (string, error) {
	s := string(b)
	i := strings.Index(s, `"`+key+`":`)
	if i < 0 {
		return "", fmt.Errorf("no %q in %q", key, s)
	}
	s = strings.TrimLeft(s[i+len(key)+3:], " ")
	if !strings.HasPrefix(s, `"`) {
		return "", fmt.Errorf("%q is not a string", key)
	}
	s = s[1:]
	j := strings.Index(s, `"`)
	if j < 0 {
		return "", fmt.Errorf("unterminated %q", key)
	}
	return s[:j], nil
}
