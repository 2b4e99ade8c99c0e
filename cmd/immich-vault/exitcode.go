package main

import (
	"context"
	"errors"

	"github.com/immich-vault/immich-vault/repo"
)

// exitCodeOf returns the exit code the process ends with for err (see
// reportError, which this mirrors): metrics, run logs and run's steps
// record the same number the shell sees.
func exitCodeOf(ctx context.Context, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, repo.ErrNoRepository):
		return exitNoRepository
	case errors.Is(err, repo.ErrWrongPassword):
		return exitWrongPass
	case errors.Is(err, repo.ErrUnsupportedVersion):
		return exitFailure
	case ctx != nil && ctx.Err() != nil:
		return exitInterrupted
	}
	return exitFailure
}
