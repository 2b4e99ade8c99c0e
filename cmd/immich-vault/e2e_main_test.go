// End-to-end tests: they build the real immich-vault binary once (TestMain)
// and drive it with exec, exactly as a user or a cron job would: a clean
// environment, the repository and password passed through IMMICH_VAULT_*
// variables, stdin not a terminal, and assertions on exit codes, stdout,
// stderr and the files on disk. They are written against the CLI
// specification (exit codes, --json shapes, restore semantics), not against
// the implementation.
//
// The tests expect to run as root (they chown files and drop privileges
// with setpriv for the unreadable-file case); the parts that need root
// skip themselves otherwise.
package main_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// binPath is the immich-vault binary built by TestMain.
var binPath string

// cmdTimeout bounds a single invocation so that a hang (for example a
// password prompt waiting on a non-terminal) fails the test instead of the
// whole run.
const cmdTimeout = 3 * time.Minute

// Exit codes from the CLI specification.
const (
	exitOK          = 0
	exitFailure     = 1
	exitPartial     = 3
	exitNoRepo      = 10
	exitBadPassword = 12
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "immich-vault-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(2)
	}
	// Readable by the unprivileged user of the setpriv test.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(2)
	}
	binPath = filepath.Join(dir, "immich-vault")
	build := exec.Command("go", "build", "-o", binPath, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/immich-vault: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one user's view of one repository: a repository path, a password
// and private cache and home directories, all inside the test's temp dir.
type env struct {
	t        *testing.T
	dir      string // scratch root for this env
	repo     string
	cache    string
	home     string
	password string
}

// newEnv returns an env whose repository does not exist yet.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{
		t:        t,
		dir:      dir,
		repo:     filepath.Join(dir, "repo"),
		cache:    filepath.Join(dir, "cache"),
		home:     filepath.Join(dir, "home"),
		password: "correct horse battery staple " + t.Name(),
	}
	mustMkdirAll(t, e.home)
	return e
}

// initRepo runs init and fails the test if it does not succeed.
func (e *env) initRepo() {
	e.t.Helper()
	e.ok("init")
}

// result is the outcome of one invocation.
type result struct {
	args   []string
	code   int
	stdout string
	stderr string
	// peakRSS is the child's own peak resident set size in bytes (0:
	// unknown, e.g. not Linux), reported by the binary through
	// IMMICH_VAULT_TEST_PEAK_RSS_FILE: the parent's rusage includes the
	// test process's own size (vfork+exec inherits its high-water mark).
	peakRSS int64
}

func (r result) String() string {
	return fmt.Sprintf("immich-vault %s\nexit code: %d\n--- stdout ---\n%s\n--- stderr ---\n%s",
		quoteArgs(r.args), r.code, clip(r.stdout), clip(r.stderr))
}

// output is stdout and stderr together, for "the message mentions X" checks.
func (r result) output() string { return r.stdout + "\n" + r.stderr }

func clip(s string) string {
	const max = 8000
	if len(s) > max {
		return s[:max/2] + "\n[... clipped ...]\n" + s[len(s)-max/2:]
	}
	return s
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$*?[") {
			q[i] = fmt.Sprintf("%q", a)
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

// opts modify one invocation.
type opts struct {
	stdin     io.Reader
	password  *string       // nil: env's password; pointer to "": no IMMICH_VAULT_PASSWORD at all
	extraEnv  []string      // KEY=VALUE, appended last (they win)
	noRepoEnv bool          // do not set IMMICH_VAULT_REPOSITORY
	asNobody  bool          // run as uid/gid 65534 through setpriv
	cacheFlag bool          // pass --cache-dir instead of IMMICH_VAULT_CACHE_DIR
	timeout   time.Duration // 0: cmdTimeout
}

func strPtr(s string) *string { return &s }

// run executes the binary with the env's repository, password and cache.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runOpts(opts{}, args...)
}

func (e *env) runOpts(o opts, args ...string) result {
	e.t.Helper()
	environ := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"LANG=C.UTF-8",
		"TMPDIR=" + os.TempDir(),
	}
	if !o.noRepoEnv {
		environ = append(environ, "IMMICH_VAULT_REPOSITORY="+e.repo)
	}
	pw := e.password
	if o.password != nil {
		pw = *o.password
	}
	if pw != "" {
		environ = append(environ, "IMMICH_VAULT_PASSWORD="+pw)
	}
	if o.cacheFlag {
		args = append([]string{"--cache-dir", e.cache}, args...)
	} else {
		environ = append(environ, "IMMICH_VAULT_CACHE_DIR="+e.cache)
	}
	environ = append(environ, o.extraEnv...)
	rssFile := filepath.Join(e.t.TempDir(), "peak-rss")
	environ = append(environ, "IMMICH_VAULT_TEST_PEAK_RSS_FILE="+rssFile)

	timeout := cmp.Or(o.timeout, cmdTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	name, argv := binPath, args
	if o.asNobody {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			e.t.Fatalf("setpriv not found (util-linux): %v", err)
		}
		name = setpriv
		argv = append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", binPath}, args...)
	}
	cmd := exec.CommandContext(ctx, name, argv...)
	cmd.Env = environ
	cmd.Dir = e.dir
	cmd.Stdin = o.stdin // nil: /dev/null, never a terminal
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if b, err := os.ReadFile(rssFile); err == nil {
		r.peakRSS, _ = strconv.ParseInt(string(b), 10, 64)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		e.t.Fatalf("timed out after %v:\n%v", timeout, r)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		e.t.Fatalf("exec immich-vault: %v", err)
	}
	return r
}

// ok runs the command and fails the test unless it exits 0.
func (e *env) ok(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != exitOK {
		e.t.Fatalf("want exit code 0, got:\n%v", r)
	}
	return r
}

// okOpts is ok with options.
func (e *env) okOpts(o opts, args ...string) result {
	e.t.Helper()
	r := e.runOpts(o, args...)
	if r.code != exitOK {
		e.t.Fatalf("want exit code 0, got:\n%v", r)
	}
	return r
}

// wantCode fails the test (but continues it) when r did not exit with code.
func wantCode(t *testing.T, r result, code int) bool {
	t.Helper()
	if r.code != code {
		t.Errorf("want exit code %d, got:\n%v", code, r)
		return false
	}
	return true
}

// wantFailure fails the test when r exited 0.
func wantFailure(t *testing.T, r result) bool {
	t.Helper()
	if r.code == 0 {
		t.Errorf("want a non-zero exit code, got:\n%v", r)
		return false
	}
	return true
}

// backupSummary is the --json summary object of backup.
type backupSummary struct {
	SnapshotID      string  `json:"snapshot_id"`
	FilesNew        int64   `json:"files_new"`
	FilesChanged    int64   `json:"files_changed"`
	FilesUnmodified int64   `json:"files_unmodified"`
	Dirs            int64   `json:"dirs"`
	BytesProcessed  int64   `json:"bytes_processed"`
	DataAdded       int64   `json:"data_added"`
	Errors          int64   `json:"errors"`
	Partial         bool    `json:"partial"`
	DurationSeconds float64 `json:"duration_seconds"`
}

var summaryKeys = []string{"snapshot_id", "files_new", "files_changed", "files_unmodified", "dirs",
	"bytes_processed", "data_added", "errors", "partial", "duration_seconds"}

// backup runs `backup --json ARGS...`, requires exit code wantExit and
// returns the decoded summary.
func (e *env) backup(wantExit int, args ...string) (backupSummary, result) {
	e.t.Helper()
	return e.backupOpts(opts{}, wantExit, args...)
}

func (e *env) backupOpts(o opts, wantExit int, args ...string) (backupSummary, result) {
	e.t.Helper()
	r := e.runOpts(o, append([]string{"backup", "--json"}, args...)...)
	if r.code != wantExit {
		e.t.Fatalf("backup: want exit code %d, got:\n%v", wantExit, r)
	}
	raw := lastJSONObject(e.t, r)
	requireKeys(e.t, raw, r, summaryKeys...)
	var s backupSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		e.t.Fatalf("decode backup summary: %v\n%v", err, r)
	}
	if !isHexID(s.SnapshotID) {
		e.t.Fatalf("backup summary: snapshot_id %q is not a hex id\n%v", s.SnapshotID, r)
	}
	return s, r
}

var hexIDRe = regexp.MustCompile(`^[0-9a-f]{8,}$`)

func isHexID(s string) bool { return hexIDRe.MatchString(s) }

// lastJSONObject decodes stdout as a stream of JSON values (one per line or
// pretty-printed) and returns the last one.
func lastJSONObject(t *testing.T, r result) json.RawMessage {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var last json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("stdout is not a stream of JSON values: %v\n%v", err, r)
		}
		last = v
	}
	if last == nil {
		t.Fatalf("no JSON value on stdout\n%v", r)
	}
	return last
}

// jsonLines decodes stdout as one JSON value per non-empty line.
func jsonLines[T any](t *testing.T, r result) []T {
	t.Helper()
	var out []T
	for i, line := range strings.Split(r.stdout, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("stdout line %d is not a JSON object: %v: %q\n%v", i+1, err, line, r)
		}
		out = append(out, v)
	}
	return out
}

// decodeJSON decodes the whole of stdout as one JSON document.
func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not one JSON document of type %T: %v\n%v", v, err, r)
	}
	return v
}

// requireKeys fails when the JSON object raw lacks one of keys.
func requireKeys(t *testing.T, raw json.RawMessage, r result, keys ...string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s\n%v", err, raw, r)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON object lacks key %q: %s", k, raw)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// snapshot is one element of `snapshots --json`.
type snapshot struct {
	ID      string          `json:"id"`
	ShortID string          `json:"short_id"`
	Time    string          `json:"time"`
	Host    string          `json:"host"`
	Tags    []string        `json:"tags"`
	Paths   []string        `json:"paths"`
	Tree    string          `json:"tree"`
	Partial bool            `json:"partial"`
	Summary json.RawMessage `json:"summary"`
}

// snapshots runs `snapshots --json EXTRA...` and decodes the array.
func (e *env) snapshots(extra ...string) []snapshot {
	e.t.Helper()
	r := e.ok(append([]string{"snapshots", "--json"}, extra...)...)
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "[") {
		e.t.Fatalf("snapshots --json: want a JSON array (also when empty), got:\n%v", r)
	}
	return decodeJSON[[]snapshot](e.t, r)
}

// lsNode is one line of `ls --json`.
type lsNode struct {
	Path  string `json:"path"`
	Type  string `json:"type"`
	Size  int64  `json:"size"`
	Mode  uint32 `json:"mode"`
	Mtime string `json:"mtime"`
}

// lsPaths runs `ls SNAPSHOT [PATH]` (text) and returns the lines.
func (e *env) lsPaths(args ...string) []string {
	e.t.Helper()
	r := e.ok(append([]string{"ls"}, args...)...)
	var out []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// lsJSON runs `ls --json SNAPSHOT [PATH]` and indexes the nodes by path.
func (e *env) lsJSON(args ...string) map[string]lsNode {
	e.t.Helper()
	r := e.ok(append([]string{"ls", "--json"}, args...)...)
	m := map[string]lsNode{}
	for _, n := range jsonLines[lsNode](e.t, r) {
		m[n.Path] = n
	}
	return m
}

func mustMkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	mustMkdirAll(t, filepath.Dir(path))
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile honours the umask
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
