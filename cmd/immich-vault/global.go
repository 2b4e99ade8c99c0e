package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/immich-vault/immich-vault/internal/proc"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/immich-vault/immich-vault/internal/config"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/limit"
	"github.com/immich-vault/immich-vault/repo/backend/local"
)

type globalOptions struct {
	repo            string
	passwordFile    string
	passwordCommand string
	passwordTimeout time.Duration
	cacheDir        string
	noCache         bool
	json            bool
	quiet           bool
	verbose         int
	cpuProfile      string
	traceFile       string
	memProfile      string
	stopMemProfile  func()
	configFile      string       // --config / IMMICH_VAULT_CONFIG
	cfg             *config.File // the loaded configuration file, if any
	stdout          io.Writer
	stderr          io.Writer
}

var gopts = &globalOptions{stdout: os.Stdout, stderr: os.Stderr}

const rootHelp = `immich-vault backs up Immich — photos, videos and its PostgreSQL database —
into a content-addressed, deduplicating, encrypted repository, and restores it.

Repository and password come from flags or the environment:
  IMMICH_VAULT_REPOSITORY        repository location (same as -r)
  IMMICH_VAULT_PASSWORD          the password itself
  IMMICH_VAULT_PASSWORD_FILE     a file holding the password (same as --password-file)
  IMMICH_VAULT_PASSWORD_COMMAND  a command printing the password (same as --password-command)
  IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT  how long it may take (default 60s)
  IMMICH_VAULT_CACHE_DIR         the local cache directory (same as --cache-dir)
A password is never accepted on the command line. Without any of these, the
password is asked for on the terminal (and is an error without a terminal).

Exit codes:
  0   success
  1   failure (nothing of the failed step was committed)
  3   backup finished, but some files could not be read (snapshot marked partial)
  10  the repository does not exist (wrong path, or its disk is not mounted)
  11  the repository is locked by another prune or repair (retry later)
  12  wrong password
  129 interrupted by SIGHUP (the terminal or ssh session went away)
  130 interrupted by SIGINT (Ctrl-C)
  143 interrupted by SIGTERM
      (after any of these the lock and temporary files are removed; run the
      command again to complete it)`

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "immich-vault",
		Short:         "Deduplicating, encrypted backups of Immich and anything else",
		Long:          rootHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	f := root.PersistentFlags()
	f.StringVarP(&gopts.repo, "repo", "r", os.Getenv("IMMICH_VAULT_REPOSITORY"), "repository `location` (env IMMICH_VAULT_REPOSITORY)")
	f.StringVar(&gopts.passwordFile, "password-file", os.Getenv("IMMICH_VAULT_PASSWORD_FILE"), "read the password from `file` (env IMMICH_VAULT_PASSWORD_FILE)")
	f.StringVar(&gopts.passwordCommand, "password-command", os.Getenv("IMMICH_VAULT_PASSWORD_COMMAND"), "run `command` to get the password (env IMMICH_VAULT_PASSWORD_COMMAND)")
	f.DurationVar(&gopts.passwordTimeout, "password-command-timeout", 0, "kill the password command after `duration` (env IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT; default 60s)")
	f.StringVar(&gopts.cacheDir, "cache-dir", os.Getenv("IMMICH_VAULT_CACHE_DIR"), "local cache `directory` (env IMMICH_VAULT_CACHE_DIR; default: user cache dir)")
	f.BoolVar(&gopts.noCache, "no-cache", false, "use a temporary cache (slower; nothing kept locally)")
	f.BoolVar(&gopts.json, "json", false, "machine-readable JSON output")
	f.BoolVarP(&gopts.quiet, "quiet", "q", false, "print only errors")
	f.CountVarP(&gopts.verbose, "verbose", "v", "more output (repeatable)")
	f.StringVar(&gopts.configFile, "config", os.Getenv("IMMICH_VAULT_CONFIG"), "read settings from the YAML `file` (env IMMICH_VAULT_CONFIG; see docs/CONFIG.md and `config init`)")
	f.StringVar(&gopts.cpuProfile, "cpu-profile", "", "write a CPU profile to `file` (for performance work)")
	_ = f.MarkHidden("cpu-profile")
	f.StringVar(&gopts.traceFile, "trace", "", "write a Go execution trace to `file` (for performance work)")
	_ = f.MarkHidden("trace")
	f.StringVar(&gopts.memProfile, "mem-profile", "", "write a heap profile taken near the heap's peak to `file` (for performance work)")
	_ = f.MarkHidden("mem-profile")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if err := applyConfig(cmd); err != nil {
			return err
		}
		if gopts.cpuProfile != "" {
			f, err := os.Create(gopts.cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		if gopts.memProfile != "" {
			gopts.stopMemProfile = startMemProfile(gopts.memProfile)
		}
		if gopts.traceFile != "" {
			f, err := os.Create(gopts.traceFile)
			if err != nil {
				return err
			}
			return trace.Start(f)
		}
		return nil
	}
	root.PersistentPostRun = func(cmd *cobra.Command, args []string) {
		if gopts.cpuProfile != "" {
			pprof.StopCPUProfile()
		}
		if gopts.stopMemProfile != nil {
			gopts.stopMemProfile()
		}
		if gopts.traceFile != "" {
			trace.Stop()
		}
	}
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

// commands holds the constructors of the top-level commands; each command's
// file registers itself in an init function, so adding a command touches
// no shared file.
var commands []func() *cobra.Command

func register(c ...func() *cobra.Command) { commands = append(commands, c...) }

// backendOpeners maps a repository location prefix ("s3:") to its backend
// constructor; a location without a registered prefix is a local path.
var backendOpeners = map[string]func(loc string) (backend.Backend, error){}

func registerBackend(prefix string, open func(loc string) (backend.Backend, error)) {
	backendOpeners[prefix] = open
}

func (g *globalOptions) printf(format string, args ...any) {
	if !g.quiet && !g.json {
		fmt.Fprintf(g.stdout, format, args...)
	}
}

func (g *globalOptions) warnf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "warning: "+format+"\n", args...)
}

func (g *globalOptions) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// openBackend returns the backend for the repository location.
func openBackend(loc string) (backend.Backend, error) {
	if loc == "" {
		return nil, errors.New("no repository given: use -r/--repo or set IMMICH_VAULT_REPOSITORY")
	}
	for prefix, open := range backendOpeners {
		if strings.HasPrefix(loc, prefix) {
			return open(loc)
		}
	}
	if strings.HasPrefix(loc, "s3:") {
		return nil, fmt.Errorf("repository %q: the S3 backend is not available in this build yet", loc)
	}
	be, err := local.Open(strings.TrimPrefix(loc, "local:"))
	if err != nil {
		return nil, err
	}
	return limit.New(be, s3opts.limitUp, s3opts.limitDown), nil
}

func (g *globalOptions) repoOptions() repo.Options {
	return repo.Options{
		CacheDir: g.cacheDir,
		NoCache:  g.noCache,
		Warn:     func(msg string) { g.warnf("%s", msg) },
	}
}

// readPassword gets the password from env, file, command or terminal.
func (g *globalOptions) readPassword(ctx context.Context, prompt string) ([]byte, error) {
	if p, ok := os.LookupEnv("IMMICH_VAULT_PASSWORD"); ok && g.passwordFile == "" && g.passwordCommand == "" {
		return []byte(p), nil
	}
	if g.passwordFile != "" {
		return readPasswordFile(g.passwordFile, "password file")
	}
	if g.passwordCommand != "" {
		return g.runPasswordCommand(ctx)
	}
	return promptPassword(prompt)
}

// maxPassword bounds what is read from a password file or command: the
// password is the first line, and it must end within this many bytes (a
// wrong file such as /dev/zero or a video is not read to its end).
const maxPassword = 4 << 10

// defaultPasswordCommandTimeout bounds a --password-command (a command
// waiting for a prompt nobody answers must not hang a cron job).
const defaultPasswordCommandTimeout = 60 * time.Second

// readPasswordFile returns the first line of the file at path.
func readPasswordFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassword+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	p, ok := boundedFirstLine(b)
	if !ok {
		return nil, fmt.Errorf("%s %s: no line end within its first %d bytes: the password must be its first line (is it the right file?)", what, path, maxPassword)
	}
	return p, nil
}

// boundedFirstLine returns the first line of b, read with a limit of
// maxPassword+1 bytes: false if b was cut there before any line ended.
func boundedFirstLine(b []byte) ([]byte, bool) {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i], i <= maxPassword
	}
	return b, len(b) <= maxPassword
}

// passwordCommandTimeout is --password-command-timeout, else
// IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT, else 60 s.
func (g *globalOptions) passwordCommandTimeout() (time.Duration, error) {
	if g.passwordTimeout != 0 {
		return g.passwordTimeout, nil
	}
	if s := os.Getenv("IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT=%q: want a positive duration such as 90s or 5m", s)
		}
		return d, nil
	}
	return defaultPasswordCommandTimeout, nil
}

// runPasswordCommand runs --password-command with a timeout and returns
// the first line of its output.
func (g *globalOptions) runPasswordCommand(ctx context.Context) ([]byte, error) {
	timeout, err := g.passwordCommandTimeout()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := proc.Command(cctx, "sh", "-c", g.passwordCommand)
	cmd.Stderr = g.stderr
	out := &capWriter{max: maxPassword + 1}
	cmd.Stdout = out
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("password command %q did not finish within %v and was killed; if it needs longer, set --password-command-timeout or IMMICH_VAULT_PASSWORD_COMMAND_TIMEOUT", g.passwordCommand, timeout)
	case err != nil:
		return nil, fmt.Errorf("password command %q failed: %w", g.passwordCommand, err)
	}
	p, ok := boundedFirstLine(out.buf)
	if !ok {
		return nil, fmt.Errorf("password command %q printed no line end within its first %d bytes: it must print the password on its first line", g.passwordCommand, maxPassword)
	}
	return p, nil
}

// capWriter keeps the first max bytes written to it and discards the rest.
type capWriter struct {
	buf []byte
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if n := min(len(p), w.max-len(w.buf)); n > 0 {
		w.buf = append(w.buf, p[:n]...)
	}
	return len(p), nil
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return b
}

func promptPassword(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, errors.New("no password given and no terminal to ask on: set IMMICH_VAULT_PASSWORD_FILE, IMMICH_VAULT_PASSWORD_COMMAND or IMMICH_VAULT_PASSWORD")
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	return p, err
}

// readNewPassword reads a new password from file or asks twice on a terminal.
func readNewPassword(file string) ([]byte, error) {
	if file != "" {
		p, err := readPasswordFile(file, "new password file")
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, errors.New("the new password file is empty")
		}
		return p, nil
	}
	p1, err := promptPassword("enter new password: ")
	if err != nil {
		return nil, err
	}
	p2, err := promptPassword("enter new password again: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p1, p2) {
		return nil, errors.New("the two passwords differ")
	}
	if len(p1) == 0 {
		return nil, errors.New("empty password refused")
	}
	return p1, nil
}

// openRepo opens the repository given by the global options.
func openRepo(ctx context.Context) (*repo.Repository, error) {
	return openRepoWith(ctx, gopts.repoOptions())
}

// openRepoWith is openRepo with opts instead of the global options' own.
func openRepoWith(ctx context.Context, opts repo.Options) (*repo.Repository, error) {
	be, err := openBackend(gopts.repo)
	if err != nil {
		return nil, err
	}
	if gopts.passwordAtHand() {
		// No prompt and no command to run: the password is read first and
		// repo.Open reads the marker beside the keys (a missing or unknown
		// marker is still the error reported), one round trip less on S3
		// (issue 14). A password that cannot be read reports the marker's
		// problem first, as below.
		if pw, err := gopts.readPassword(ctx, ""); err == nil {
			return repo.Open(ctx, be, pw, opts)
		}
	}
	if _, err := repo.CheckMarker(ctx, be); err != nil {
		return nil, err
	}
	pw, err := gopts.readPassword(ctx, "enter password for repository: ")
	if err != nil {
		return nil, err
	}
	return repo.Open(ctx, be, pw, opts)
}

// passwordAtHand reports whether readPassword takes the password from the
// environment or a file: no terminal prompt, no command run.
func (g *globalOptions) passwordAtHand() bool {
	if g.passwordCommand != "" {
		return false
	}
	_, env := os.LookupEnv("IMMICH_VAULT_PASSWORD")
	return g.passwordFile != "" || env
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// withRepo adapts a command body that works on the repository of the
// global options: it opens it (password, cache), runs fn and closes it.
func withRepo(fn func(cmd *cobra.Command, r *repo.Repository, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		r, err := openRepo(cmd.Context())
		if err != nil {
			return err
		}
		defer r.Close()
		return fn(cmd, r, args)
	}
}
