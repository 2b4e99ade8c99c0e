// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb in a
// temporary directory, pg_ctl start on a free port with the Unix socket in
// that directory (no TCP listener), trust authentication for the "postgres"
// role, and everything removed when the test ends.
//
// The binaries come from Debian's postgresql package
// (/usr/lib/postgresql/<major>/bin, installed by scripts/deps.d/10-postgresql.sh).
// initdb refuses to run as root, so under uid 0 the server runs as the
// "postgres" system user (through runuser or setpriv) and the cluster
// directory is chown'ed to it. When PostgreSQL is missing, Start skips the
// test, or fails it when the environment variable CI is "true": a real
// component must never be skipped silently in CI.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cluster is a running throwaway PostgreSQL server. Its fields are read-only.
type Cluster struct {
	Dir    string // root of the temporary directory (data/, sock/, log)
	Host   string // socket directory: the value for PGHOST
	Port   int
	User   string // superuser role ("postgres")
	BinDir string // directory holding initdb, pg_ctl, psql, pg_dump...
	runAs  []string
	guard  *exec.Cmd // watchdog that stops the server if this process dies
}

// BinDir returns the newest /usr/lib/postgresql/<major>/bin holding initdb.
func BinDir() (string, error) {
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("pgtest: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (run scripts/deps.d/10-postgresql.sh, or `make test-deps`)")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Available reports whether a cluster can be started, and why not.
func Available() error {
	_, err := BinDir()
	return err
}

// Require skips the test when PostgreSQL is missing, or fails it under CI=true.
func Require(t testing.TB) string {
	t.Helper()
	d, err := BinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: a missing real component fails the test)", err)
		}
		t.Skipf("%v; skipping", err)
	}
	return d
}

// Start starts a cluster and registers its shutdown and removal with t.Cleanup.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := Require(t)
	c, err := StartCluster(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// StartCluster starts a cluster with the binaries in bin; the caller must Stop it.
func StartCluster(bin string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{Dir: dir, Host: filepath.Join(dir, "sock"), User: "postgres", BinDir: bin}
	fail := func(err error) (*Cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	for _, d := range []string{"data", "sock"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return fail(fmt.Errorf("pgtest: %w", err))
		}
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("pgtest: running as root needs the postgres system user (from the postgresql package): %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "sock")} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fail(fmt.Errorf("pgtest: %w", err))
			}
		}
		if p, err := exec.LookPath("runuser"); err == nil {
			c.runAs = []string{p, "-u", "postgres", "--"}
		} else if p, err := exec.LookPath("setpriv"); err == nil {
			c.runAs = []string{p, "--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", "--"}
		} else {
			return fail(errors.New("pgtest: running as root needs runuser or setpriv (util-linux)"))
		}
	}
	c.Port, err = freePort()
	if err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := c.server("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %v\n%s", err, out))
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off", c.Port, c.Host)
	if out, err := c.server("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "30", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fail(fmt.Errorf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log))
	}
	c.startGuard()
	return c, nil
}

// startGuard starts a watchdog in its own session that stops the server
// and removes its directory once this process is gone (a test binary killed
// by a timeout or Ctrl-C must not leave a server running). Stop ends it.
func (c *Cluster) startGuard() {
	stop := c.server("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "stop")
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 2; done; %s >/dev/null 2>&1; rm -rf %s",
		os.Getpid(), shellQuote(stop.Args), shellQuote([]string{c.Dir}))
	g := exec.Command("sh", "-c", script)
	newSession(g)
	if g.Start() == nil {
		c.guard = g
	}
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func (c *Cluster) server(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, c.runAs...), filepath.Join(c.BinDir, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.Dir
	return cmd
}

// Stop stops the server and removes its directory.
func (c *Cluster) Stop() {
	if c.guard != nil {
		c.guard.Process.Kill()
		c.guard.Wait()
		c.guard = nil
	}
	_ = c.server("pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "stop").Run()
	os.RemoveAll(c.Dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Env returns the libpq variables that connect to the cluster (PGDATABASE
// is left to the caller). Clients take them from the environment.
func (c *Cluster) Env() []string {
	return []string{"PGHOST=" + c.Host, "PGPORT=" + strconv.Itoa(c.Port), "PGUSER=" + c.User}
}

// Command returns a client command (psql, pg_dump...) from the cluster's
// bin directory with the connection variables set.
func (c *Cluster) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Env = append(os.Environ(), c.Env()...)
	return cmd
}

// Exec runs SQL in database db through psql with ON_ERROR_STOP and returns
// the unaligned, tuples-only output.
func (c *Cluster) Exec(db, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := c.Command(ctx, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db)
	cmd.Stdin = strings.NewReader(sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("psql %s: %v: %s", db, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// MustExec is Exec that fails the test on error.
func (c *Cluster) MustExec(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := c.Exec(db, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// CreateDB creates an empty database.
func (c *Cluster) CreateDB(t testing.TB, name string) {
	t.Helper()
	c.MustExec(t, "postgres", fmt.Sprintf(`CREATE DATABASE %q`, name))
}

var shared struct {
	sync.Mutex
	c   *Cluster
	err error
}

// Shared returns the package's shared cluster, starting it on first use
// (give each test its own database). The test binary's TestMain must call
// RunMain, which stops it when the tests end.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	bin := Require(t)
	shared.Lock()
	defer shared.Unlock()
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = StartCluster(bin)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// RunMain runs the tests and stops the shared cluster afterwards:
// func TestMain(m *testing.M) { os.Exit(pgtest.RunMain(m)) }.
func RunMain(m *testing.M) int {
	code := m.Run()
	shared.Lock()
	if shared.c != nil {
		shared.c.Stop()
		shared.c = nil
	}
	shared.Unlock()
	return code
}
