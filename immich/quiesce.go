package immich

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/immich-vault/immich-vault/internal/proc"
	"net/http"
	"strings"
	"time"
)

// Quiesce modes.
const (
	QuiesceNone        = "none"
	QuiesceStop        = "stop"        // docker stop immich_server ... docker start immich_server
	QuiesceMaintenance = "maintenance" // maintenance mode (Immich v2.3+), through the API or immich-admin
)

// Quiescer pauses Immich so uploads cannot change files while they are
// copied, and undoes it afterwards.
type Quiescer struct {
	Mode      string
	Docker    string // docker binary ("" = "docker")
	Container string // immich_server
	// URL and APIKey select the API for maintenance mode
	// (POST /api/admin/maintenance); without them maintenance mode goes
	// through `docker exec immich_server immich-admin`.
	URL    string
	APIKey string
	Client *http.Client
	// ResumeTimeout bounds the undo step (default 2 minutes).
	ResumeTimeout time.Duration
}

// ParseQuiesce validates a --quiesce value.
func ParseQuiesce(s string) (string, error) {
	switch s {
	case "", QuiesceNone:
		return QuiesceNone, nil
	case QuiesceStop, QuiesceMaintenance:
		return s, nil
	}
	return "", fmt.Errorf("unknown quiesce mode %q (want maintenance, stop or none)", s)
}

// Pause quiesces Immich and returns the function that undoes it. The
// returned function ignores ctx's cancellation (it must run after a Ctrl-C)
// and is safe to call more than once; call it in a defer right away.
// When Pause fails, it has already undone whatever it started.
func (q *Quiescer) Pause(ctx context.Context) (resume func() error, err error) {
	noop := func() error { return nil }
	switch q.Mode {
	case "", QuiesceNone:
		return noop, nil
	case QuiesceStop:
		if err := q.docker(ctx, "stop", q.Container); err != nil {
			// It may be half stopped: start it again.
			_ = q.undo(func(ctx context.Context) error { return q.docker(ctx, "start", q.Container) })()
			return noop, fmt.Errorf("stop %s: %w", q.Container, err)
		}
		return q.undo(func(ctx context.Context) error { return q.docker(ctx, "start", q.Container) }), nil
	case QuiesceMaintenance:
		if q.URL != "" {
			if err := q.api(ctx, "start"); err != nil {
				return noop, fmt.Errorf("enter maintenance mode: %w", err)
			}
			return q.undo(func(ctx context.Context) error { return q.api(ctx, "end") }), nil
		}
		if err := q.docker(ctx, "exec", q.Container, "immich-admin", "enable-maintenance-mode"); err != nil {
			return noop, fmt.Errorf("enter maintenance mode: %w", err)
		}
		return q.undo(func(ctx context.Context) error {
			return q.docker(ctx, "exec", q.Container, "immich-admin", "disable-maintenance-mode")
		}), nil
	}
	return noop, fmt.Errorf("unknown quiesce mode %q", q.Mode)
}

func (q *Quiescer) undo(fn func(ctx context.Context) error) func() error {
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		t := q.ResumeTimeout
		if t <= 0 {
			t = 2 * time.Minute
		}
		ctx, cancel := context.WithTimeout(context.Background(), t)
		defer cancel()
		return fn(ctx)
	}
}

func (q *Quiescer) docker(ctx context.Context, args ...string) error {
	bin := q.Docker
	if bin == "" {
		bin = "docker"
	}
	cmd := proc.Command(ctx, bin, args...)
	var stderr tailBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return cmdError("docker "+strings.Join(args, " "), err, &stderr)
	}
	return nil
}

func (q *Quiescer) api(ctx context.Context, action string) error {
	if q.APIKey == "" {
		return errors.New("maintenance mode through the API needs an API key with the maintenance permission (IMMICH_API_KEY)")
	}
	body := fmt.Sprintf(`{"action":%q}`, action)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(q.URL, "/")+"/api/admin/maintenance", bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", q.APIKey)
	c := q.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /api/admin/maintenance %s: HTTP %s", action, resp.Status)
	}
	return nil
}
