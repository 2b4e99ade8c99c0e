// Command immich-vault backs up Immich (and any other data) into a
// deduplicating, encrypted repository. Run `immich-vault --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	"github.com/immich-vault/immich-vault/internal/gomaxprocs"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/restorer"
)

// Exit codes (documented in --help).
const (
	exitOK           = 0
	exitFailure      = 1
	exitPartial      = 3
	exitNoRepository = 10
	exitWrongPass    = 12
	exitInterrupted  = 130 // 128+SIGINT; SIGTERM gives 143, SIGHUP 129
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// exitError carries an exit code and an optional message already shown.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// defaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT is set:
// the pipeline's buffers are bounded, so a limit keeps garbage from
// doubling the resident size (see BENCHMARKS.md).
const defaultMemoryLimit = 192 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	gomaxprocs.Set() // one processor more than the default
	ctx, stop := notifySignals()
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	code := reportError(err, ctx)
	if f := os.Getenv("IMMICH_VAULT_TEST_PEAK_RSS_FILE"); f != "" {
		writePeakRSS(f)
	}
	os.Exit(code)
}

// Signals that end a run: SIGINT (Ctrl-C), SIGTERM (service managers,
// docker stop), SIGHUP (the terminal or ssh session went away) and SIGPIPE
// (stdout or stderr was a pipe whose reader went away, e.g. after the ssh
// session dropped). Each cancels the command's context: the command stops
// its work, removes its temporary files and its lock, and the process
// exits with 128+signal. The handler stays installed until the process
// exits, so a second signal during that clean-up is reported and ignored
// instead of killing the process with its lock in place (SIGKILL still
// ends it at once; a lock left that way goes stale, docs/FORMAT.md §10).
var endSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}

// received is the signal that cancelled the run (nil: none yet).
var received atomic.Pointer[syscall.Signal]

// errSignal is the cancellation cause of a run ended by a signal.
type errSignal struct{ sig syscall.Signal }

func (e *errSignal) Error() string { return "interrupted by " + signalName(e.sig) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return s.String()
}

// notifySignals returns a context cancelled by the first of endSignals.
func notifySignals() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, endSignals...)
	if f := os.Getenv("IMMICH_VAULT_SIGNALS_ARMED_FILE"); f != "" {
		// For the signal tests: before this point a signal ends the
		// process by its default action (nothing has been done yet); from
		// here on it is handled.
		_ = os.WriteFile(f, nil, 0o600)
	}
	go func() {
		first := true
		for s := range ch {
			sig, _ := s.(syscall.Signal)
			if first {
				first = false
				received.Store(&sig)
				cancel(&errSignal{sig})
				continue
			}
			if sig != syscall.SIGPIPE {
				// Best effort: after SIGHUP stderr may be gone.
				fmt.Fprintf(os.Stderr, "%s received again: still stopping (removing temporary files and the lock); SIGKILL ends at once but leaves them\n", signalName(sig))
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}

// exitCodeFor is the exit status of a run ended by signal s: 128+s, as a
// shell reports a process killed by it (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
func exitCodeFor(s syscall.Signal) int { return 128 + int(s) }

// reportError prints a user-facing message for err and returns the exit code.
func reportError(err error, ctx context.Context) int {
	code := exitCodeOf(ctx, err)
	var ee *exitError
	if err == nil || (errors.As(err, &ee) && ee.err == nil) {
		return code
	}
	msg := err.Error()
	if sig := received.Load(); sig != nil && ctx.Err() != nil {
		if *sig == syscall.SIGPIPE {
			return code // output went nowhere; say nothing
		}
		fmt.Fprintf(os.Stderr, "Fatal: interrupted by %s: nothing was committed by the interrupted step; earlier snapshots are intact. Run the command again to complete it.\n", signalName(*sig))
		return code
	}
	switch {
	case errors.As(err, &ee):
	case errors.Is(err, repo.ErrNoRepository):
		msg += "\nCheck the repository path (-r or IMMICH_VAULT_REPOSITORY) and that its disk is mounted; create a new one with `immich-vault init`."
	case errors.Is(err, repo.ErrWrongPassword):
		msg = "wrong password: no key in the repository opens with it.\nCheck IMMICH_VAULT_PASSWORD, --password-file or --password-command."
	case errors.Is(err, repo.ErrUnsupportedVersion):
		msg += "\nThis repository was written by a newer immich-vault: upgrade immich-vault to read it."
	case errors.Is(err, restorer.ErrTargetReadOnly):
		msg += "\nThe restore stopped there: the file system of the target is mounted read-only. Remount it read-write (or choose another target), then run the same command again with --overwrite if-changed: what was restored is verified and kept."
	case errors.Is(err, restorer.ErrTargetFull):
		msg += "\nThe restore stopped there: the files it restored completely are kept, the ones it was writing were removed. Free space on the target's disk (or choose a target with more room), then run the same command again with --overwrite if-changed: the files already restored are verified and kept, the rest is restored."
	case errors.Is(err, backend.ErrNoSpace), errors.Is(err, syscall.ENOSPC):
		msg += "\nThe disk holding the file named above is full (for the repository: prune forgotten snapshots, or move it). Free space and run the command again; nothing of the failed step was committed."
	case ctx.Err() != nil:
		msg = "interrupted: nothing was committed by the interrupted step; earlier snapshots are intact"
	}
	fmt.Fprintln(os.Stderr, "Fatal: "+msg)
	return code
}
