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
	"syscall"

	"github.com/immich-vault/immich-vault/repo"
)

// Exit codes (documented in --help).
const (
	exitOK           = 0
	exitFailure      = 1
	exitPartial      = 3
	exitNoRepository = 10
	exitWrongPass    = 12
	exitInterrupted  = 130
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	os.Exit(reportError(err, ctx))
}

// reportError prints a user-facing message for err and returns the exit code.
func reportError(err error, ctx context.Context) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code
	}
	code := exitFailure
	msg := err.Error()
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.Is(err, repo.ErrNoRepository):
		code = exitNoRepository
		msg += "\nCheck the repository path (-r or IMMICH_VAULT_REPOSITORY) and that its disk is mounted; create a new one with `immich-vault init`."
	case errors.Is(err, repo.ErrWrongPassword):
		code = exitWrongPass
		msg = "wrong password: no key in the repository opens with it.\nCheck IMMICH_VAULT_PASSWORD, --password-file or --password-command."
	case errors.Is(err, repo.ErrUnsupportedVersion):
		msg += "\nThis repository was written by a newer immich-vault: upgrade immich-vault to read it."
	case ctx.Err() != nil:
		// A signal cancelled the run: whatever failed after that (a killed
		// dump command, a cancelled upload) is a consequence of it.
		code = exitInterrupted
		msg = "interrupted: nothing was committed by the interrupted step; earlier snapshots are intact"
	}
	fmt.Fprintln(os.Stderr, "Fatal: "+msg)
	return code
}
