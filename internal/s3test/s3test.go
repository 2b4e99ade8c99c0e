// Package s3test starts a real S3 server (versitygw, installed by
// scripts/deps.d/20-versitygw.sh) on a free 127.0.0.1 port for the tests of
// one package, and hands out empty buckets or prefixes on it.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
//
// and in tests:
//
//	srv := s3test.Require(t) // skips locally, fails under CI=true when no server
//
// An S3_ENDPOINT already set in the environment (with S3_ACCESS_KEY and
// S3_SECRET_KEY, default the ones below) is used instead of starting a
// server, so several packages can share one. The server binary is looked up
// in $VERSITYGW_BIN, $(go env GOPATH)/bin/versitygw-v1.8.0, then PATH.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release the project's script installs.
const Version = "v1.8.0"

// Default credentials of a server started by Main (test-only secrets).
const (
	DefaultAccessKey = "immichvaulttest"
	DefaultSecretKey = "immichvaulttestsecret"
	Region           = "us-east-1"
)

// Server describes a running S3 server.
type Server struct {
	Endpoint  string // e.g. http://127.0.0.1:43123
	AccessKey string
	SecretKey string
	Region    string

	cmd     *exec.Cmd
	dataDir string
}

var (
	current *Server
	reason  string // why there is no server
	mu      sync.Mutex
	seq     int
)

// Main starts (or finds) the server, runs m and stops the server. It
// returns the exit code for os.Exit.
func Main(m *testing.M) int {
	srv, err := Start()
	if err != nil {
		reason = err.Error()
	} else {
		current = srv
	}
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	return code
}

// Binary returns the path of the versitygw binary, or an error saying how
// to install it.
func Binary() (string, error) {
	if p := os.Getenv("VERSITYGW_BIN"); p != "" {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw-"+Version)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", errors.New("versitygw not installed: run `make test-deps` (scripts/deps.d/20-versitygw.sh)")
}

// Start returns the server named by S3_ENDPOINT, or starts versitygw on a
// free loopback port and waits until it answers /health.
func Start() (*Server, error) {
	if ep := os.Getenv("S3_ENDPOINT"); ep != "" {
		s := &Server{Endpoint: strings.TrimRight(ep, "/"), AccessKey: envOr("S3_ACCESS_KEY", DefaultAccessKey),
			SecretKey: envOr("S3_SECRET_KEY", DefaultSecretKey), Region: Region}
		return s, nil
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "immich-vault-s3-")
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--port", addr, "--health", "/health", "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+DefaultAccessKey, "ROOT_SECRET_KEY="+DefaultSecretKey, "VGW_QUIET=true")
	// Output (start-up banner, shutdown notes) is discarded: nil.
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	s := &Server{Endpoint: "http://" + addr, AccessKey: DefaultAccessKey, SecretKey: DefaultSecretKey,
		Region: Region, cmd: cmd, dataDir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("versitygw on %s did not become healthy within 10 s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends a server started by Start (SIGTERM, then SIGKILL after 5 s)
// and removes its data directory. A server from S3_ENDPOINT is left alone.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dataDir)
	s.cmd = nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Require returns the server of this test binary. Without one the test is
// skipped, or fails when CI=true (CI must never silently skip S3 tests).
func Require(t testing.TB) *Server {
	t.Helper()
	if current != nil {
		return current
	}
	why := reason
	if why == "" {
		why = "no S3 server: call s3test.Main from TestMain"
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("S3 server required under CI=true: %s", why)
	}
	t.Skipf("skipping S3 test: %s", why)
	return nil
}

// Client returns an S3 client for the server with the given secret key
// (empty: the right one).
func (s *Server) Client(secret string) *s3.Client {
	if secret == "" {
		secret = s.SecretKey
	}
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, secret, ""),
	})
}

// NewBucket creates a fresh, empty bucket with a unique name and returns
// it. The bucket is left behind (the server's directory is removed at the
// end of the run).
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	mu.Lock()
	seq++
	n := seq
	mu.Unlock()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("iv-test-%d-%s", n, hex.EncodeToString(rnd[:]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client("").CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Env returns environment variables that point the AWS credential chain at
// this server (for running the CLI binary).
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// StartT starts a server for one test (or uses S3_ENDPOINT) and stops it
// when the test ends; for packages whose TestMain is not theirs to change.
// Without a server the test is skipped, or fails under CI=true.
func StartT(t testing.TB) *Server {
	t.Helper()
	srv, err := Start()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("S3 server required under CI=true: %v", err)
		}
		t.Skipf("skipping S3 test: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}
