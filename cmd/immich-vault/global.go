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

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/limit"
	"github.com/immich-vault/immich-vault/repo/backend/local"
)

type globalOptions struct {
	repo            string
	passwordFile    string
	passwordCommand string
	cacheDir        string
	noCache         bool
	json            bool
	quiet           bool
	verbose         int
	cpuProfile      string
	traceFile       string
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
	f.StringVar(&gopts.cacheDir, "cache-dir", os.Getenv("IMMICH_VAULT_CACHE_DIR"), "local cache `directory` (env IMMICH_VAULT_CACHE_DIR; default: user cache dir)")
	f.BoolVar(&gopts.noCache, "no-cache", false, "use a temporary cache (slower; nothing kept locally)")
	f.BoolVar(&gopts.json, "json", false, "machine-readable JSON output")
	f.BoolVarP(&gopts.quiet, "quiet", "q", false, "print only errors")
	f.CountVarP(&gopts.verbose, "verbose", "v", "more output (repeatable)")
	f.StringVar(&gopts.cpuProfile, "cpu-profile", "", "write a CPU profile to `file` (for performance work)")
	_ = f.MarkHidden("cpu-profile")
	f.StringVar(&gopts.traceFile, "trace", "", "write a Go execution trace to `file` (for performance work)")
	_ = f.MarkHidden("trace")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if gopts.cpuProfile != "" {
			f, err := os.Create(gopts.cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
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
		b, err := os.ReadFile(g.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		return firstLine(b), nil
	}
	if g.passwordCommand != "" {
		cmd := proc.Command(ctx, "sh", "-c", g.passwordCommand)
		cmd.Stderr = g.stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("password command failed: %w", err)
		}
		return firstLine(out), nil
	}
	return promptPassword(prompt)
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
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read new password file: %w", err)
		}
		p := firstLine(b)
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
	be, err := openBackend(gopts.repo)
	if err != nil {
		return nil, err
	}
	if _, err := repo.CheckMarker(ctx, be); err != nil {
		return nil, err
	}
	pw, err := gopts.readPassword(ctx, "enter password for repository: ")
	if err != nil {
		return nil, err
	}
	return repo.Open(ctx, be, pw, gopts.repoOptions())
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
