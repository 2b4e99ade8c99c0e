package main

import (
	"context"
	"errors"

	"github.com/immich-vault/immich-vault/repo"
)

// exitCodeOf returns the exit code the process ends with for err: the one
// classification of errors into exit codes. reportError (the process's
// exit) and metrics, run logs and run's steps all use it, so they record
// the number the shell sees.
func exitCodeOf(ctx context.Context, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee) && ee.err == nil:
		return ee.code
	}
	if sig := received.Load(); sig != nil && ctx != nil && ctx.Err() != nil {
		// A signal cancelled the run: whatever failed after that (a killed
		// dump command, a cancelled upload) is a consequence of it.
		return exitCodeFor(*sig)
	}
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, repo.ErrNoRepository):
		return exitNoRepository
	case errors.Is(err, repo.ErrWrongPassword):
		return exitWrongPass
	case ctx != nil && ctx.Err() != nil:
		return exitInterrupted
	}
	return exitFailure
}
