// Command s3 is the S3 throughput scenario: it starts a local versitygw
// (internal/s3test; S3_ENDPOINT reuses a running one), writes a seeded
// corpus of incompressible "photos", and measures on the same bytes:
//
//   - the server's raw rate: PUT then GET of the corpus files as objects
//     with aws-sdk-go-v2 and the same number of parallel connections;
//   - immich-vault backup into and restore from an s3: repository;
//   - restic's S3 backend on the same server, when restic is on PATH.
//
// It prints a table and writes it into the "## S3" section of
// BENCHMARKS.md (creating the file or the section when missing; other
// sections are left alone).
//
//	go run ./bench/s3 -mib 512 -out BENCHMARKS.md
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/immich-vault/immich-vault/bench/s3raw"
	"github.com/immich-vault/immich-vault/internal/s3test"
)

var binFlag string

type result struct {
	name    string
	seconds float64
	bytes   int64
	note    string
}

func (r result) mbps() float64 { return float64(r.bytes) / r.seconds / 1e6 }

func main() {
	mib := flag.Int("mib", 256, "corpus size in MiB (files of -file-mib)")
	fileMiB := flag.Int("file-mib", 16, "size of each corpus file in MiB")
	conns := flag.Int("connections", 8, "parallel S3 connections (raw test and --s3-connections)")
	out := flag.String("out", "BENCHMARKS.md", "markdown file whose \"## S3\" section is (re)written; empty: print only")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.StringVar(&binFlag, "bin", "", "immich-vault binary to measure (default: go build ./cmd/immich-vault)")
	flag.Parse()
	if err := run(*mib, *fileMiB, *conns, *out, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/s3:", err)
		os.Exit(1)
	}
}

func run(mib, fileMiB, conns int, out string, keep bool) error {
	ctx := context.Background()
	srv, err := s3test.Start()
	if err != nil {
		return fmt.Errorf("S3 server: %w (run scripts/deps.d/20-versitygw.sh)", err)
	}
	defer srv.Stop()
	tmp, err := os.MkdirTemp("", "immich-vault-bench-s3-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(tmp)
	}
	corpus := filepath.Join(tmp, "corpus")
	total, err := writeCorpus(corpus, mib, fileMiB)
	if err != nil {
		return err
	}
	bin := binFlag
	if bin == "" {
		bin = filepath.Join(tmp, "immich-vault")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/immich-vault").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}

	var results []result
	client := srv.Client("")
	bucket := mkBucket(ctx, client, "raw")
	put, get, err := raw(ctx, client, bucket, corpus, conns)
	if err != nil {
		return err
	}
	results = append(results, put, get)

	env := append(os.Environ(), srv.Env()...)
	env = append(env, "IMMICH_VAULT_PASSWORD=bench", "IMMICH_VAULT_CACHE_DIR="+filepath.Join(tmp, "cache"),
		"RESTIC_PASSWORD=bench", "RESTIC_CACHE_DIR="+filepath.Join(tmp, "restic-cache"))
	repoLoc := "s3:" + srv.Endpoint + "/" + mkBucket(ctx, client, "iv") + "/repo"
	ivEnv := append(env, "IMMICH_VAULT_REPOSITORY="+repoLoc)
	sc := fmt.Sprint(conns)
	if _, err := timed(ivEnv, bin, "init"); err != nil {
		return err
	}
	d, err := timed(ivEnv, bin, "--s3-connections", sc, "backup", corpus)
	if err != nil {
		return err
	}
	results = append(results, result{name: "immich-vault backup → S3", seconds: d, bytes: total})
	target := filepath.Join(tmp, "restore-iv")
	d, err = timed(ivEnv, bin, "--s3-connections", sc, "restore", "latest", "--target", target)
	if err != nil {
		return err
	}
	results = append(results, result{name: "immich-vault restore ← S3", seconds: d, bytes: total})
	os.RemoveAll(target)

	if restic, err := exec.LookPath("restic"); err == nil {
		rloc := "s3:" + srv.Endpoint + "/" + mkBucket(ctx, client, "restic")
		rEnv := append(env, "RESTIC_REPOSITORY="+rloc)
		if _, err := timed(rEnv, restic, "init"); err != nil {
			return err
		}
		opt := "s3.connections=" + sc
		d, err := timed(rEnv, restic, "-o", opt, "backup", "-q", corpus)
		if err != nil {
			return err
		}
		results = append(results, result{name: "restic backup → S3", seconds: d, bytes: total})
		target := filepath.Join(tmp, "restore-restic")
		d, err = timed(rEnv, restic, "-o", opt, "restore", "latest", "-q", "--target", target)
		if err != nil {
			return err
		}
		results = append(results, result{name: "restic restore ← S3", seconds: d, bytes: total})
		os.RemoveAll(target)
	}

	table := render(results, total, conns)
	fmt.Print(table)
	if out == "" {
		return nil
	}
	return writeSection(out, table)
}

// writeCorpus writes mib MiB of seeded random bytes in files of fileMiB.
func writeCorpus(dir string, mib, fileMiB int) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	rng := rand.NewChaCha8([32]byte{'s', '3'})
	buf := make([]byte, fileMiB<<20)
	var total int64
	for i := 0; i*fileMiB < mib; i++ {
		_, _ = rng.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("IMG_%04d.jpg", i)), buf, 0o644); err != nil {
			return 0, err
		}
		total += int64(len(buf))
	}
	return total, nil
}

var bucketSeq int

func mkBucket(ctx context.Context, c *s3.Client, what string) string {
	bucketSeq++
	name := fmt.Sprintf("bench-%s-%d-%d", what, os.Getpid(), bucketSeq)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		fmt.Fprintln(os.Stderr, "create bucket:", err)
		os.Exit(1)
	}
	return name
}

// raw PUTs every corpus file as an object (conns in parallel, bodies in
// memory so that disk reads are not timed) and GETs them back (s3raw).
func raw(ctx context.Context, c *s3.Client, bucket, dir string, conns int) (result, result, error) {
	bodies, err := s3raw.ReadFiles(dir)
	if err != nil {
		return result{}, result{}, err
	}
	p, g, err := s3raw.Measure(ctx, c, bucket, bodies, conns)
	if err != nil {
		return result{}, result{}, err
	}
	return result{name: "raw PUT (aws-sdk-go-v2)", seconds: p.Time.Seconds(), bytes: p.Bytes},
		result{name: "raw GET (aws-sdk-go-v2)", seconds: g.Time.Seconds(), bytes: g.Bytes}, nil
}

func timed(env []string, name string, args ...string) (float64, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return time.Since(start).Seconds(), nil
}

func render(rs []result, total int64, conns int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## S3\n\n")
	fmt.Fprintf(&b, "`go run ./bench/s3` (%s, %d cores, %s): %d MiB of incompressible files, versitygw %s (posix backend, tmp dir) on 127.0.0.1, %d connections. Wall-clock times of whole commands (backup includes reading, chunking, hashing, encrypting; restore includes writing and verifying). Server and client share the machine.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOARCH, total>>20, s3test.Version, conns)
	fmt.Fprintf(&b, "| run | seconds | MB/s | vs raw |\n|---|---:|---:|---:|\n")
	var rawPut, rawGet float64
	for _, r := range rs {
		switch {
		case strings.HasPrefix(r.name, "raw PUT"):
			rawPut = r.mbps()
		case strings.HasPrefix(r.name, "raw GET"):
			rawGet = r.mbps()
		}
	}
	for _, r := range rs {
		ratio := ""
		switch {
		case strings.Contains(r.name, "backup"):
			ratio = fmt.Sprintf("%.0f %% of PUT", 100*r.mbps()/rawPut)
		case strings.Contains(r.name, "restore"):
			ratio = fmt.Sprintf("%.0f %% of GET", 100*r.mbps()/rawGet)
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %s |\n", r.name, r.seconds, r.mbps(), ratio)
	}
	b.WriteString("\n")
	return b.String()
}

// writeSection replaces the "## S3" section of path (up to the next "## "
// heading) or appends it.
func writeSection(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	if s == "" {
		s = "# Benchmarks\n"
	}
	// An index in "\n"+s is the index of the heading itself in s.
	i := strings.Index("\n"+s, "\n## S3\n")
	switch {
	case i < 0:
		s = strings.TrimRight(s, "\n") + "\n\n" + section
	default:
		if j := strings.Index(s[i+1:], "\n## "); j < 0 {
			s = s[:i] + section
		} else {
			s = s[:i] + section + s[i+1+j+1:]
		}
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
