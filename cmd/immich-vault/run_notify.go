package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// notify pings the monitors of the configuration for event (start,
// success, failure). A monitor that fails or times out is a warning: it
// never changes the run's exit code.
//
// healthchecks: the healthchecks.io ping API (also Uptime Kuma-style
// servers that follow it): GET URL/start, POST URL with the report as the
// body on success, POST URL/fail on failure.
// webhooks: POST to each URL whose "on" list has event (default:
// failure), as text (body = report, Title header: ntfy) or as JSON
// ({"title","message","body",...}: Gotify's message, Apprise API's body).
func (rn *runner) notify(ctx context.Context, event string, rep *runReport) {
	n := rn.cfg.Notify
	if n.Healthchecks == "" && len(n.Webhooks) == 0 {
		return
	}
	timeout := 30 * time.Second
	if n.Timeout != "" {
		timeout, _ = time.ParseDuration(n.Timeout)
	}
	host, _ := os.Hostname()
	title := fmt.Sprintf("immich-vault on %s: run started", host)
	text := title
	if rep != nil {
		title = fmt.Sprintf("immich-vault on %s: run %s (exit %d)", host, rep.Status, rep.ExitCode)
		text = title + "\n" + summarize(rep)
	}
	if u := strings.TrimRight(n.Healthchecks, "/"); u != "" {
		switch event {
		case "start":
			rn.send(ctx, timeout, http.MethodGet, u+"/start", nil, nil)
		case "success":
			rn.send(ctx, timeout, http.MethodPost, u, []byte(text), map[string]string{"Content-Type": "text/plain; charset=utf-8"})
		case "failure":
			rn.send(ctx, timeout, http.MethodPost, u+"/fail", []byte(text), map[string]string{"Content-Type": "text/plain; charset=utf-8"})
		}
	}
	for _, w := range n.Webhooks {
		on := w.On
		if len(on) == 0 {
			on = []string{"failure"}
		}
		if !slices.Contains(on, event) {
			continue
		}
		h := map[string]string{}
		var body []byte
		if w.Format == "json" {
			j := map[string]any{"title": title, "message": text, "body": text, "event": event, "host": host}
			if rep != nil {
				j["status"], j["exit_code"], j["steps"] = rep.Status, rep.ExitCode, rep.Steps
			}
			body, _ = json.Marshal(j)
			h["Content-Type"] = "application/json"
		} else {
			body = []byte(text)
			h["Content-Type"] = "text/plain; charset=utf-8"
			h["Title"] = title
			if event == "failure" {
				h["Priority"] = "high"
				h["Tags"] = "warning"
			}
		}
		for k, v := range w.Headers {
			h[k] = v
		}
		rn.send(ctx, timeout, http.MethodPost, w.URL, body, h)
	}
}

// summarize is the report as text: one line per step.
func summarize(rep *runReport) string {
	var b strings.Builder
	for _, s := range rep.Steps {
		fmt.Fprintf(&b, "%s: %s", s.Step, s.Status)
		if s.Status != "skipped" {
			fmt.Fprintf(&b, " in %.1fs", s.Seconds)
		}
		if s.ExitCode != 0 {
			fmt.Fprintf(&b, " (exit %d)", s.ExitCode)
		}
		if s.Detail != "" {
			fmt.Fprintf(&b, " - %s", s.Detail)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, " - %s", s.Error)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (rn *runner) send(ctx context.Context, timeout time.Duration, method, url string, body []byte, headers map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		gopts.warnf("notify %s: %v", redact(url), err)
		return
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "immich-vault/"+version)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			gopts.warnf("notify %s: no answer within %s (notify.timeout)", redact(url), timeout)
			return
		}
		var ue *neturl.Error // its text holds the whole URL, a secret
		if errors.As(err, &ue) {
			err = ue.Err
		}
		gopts.warnf("notify %s: %v", redact(url), err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		gopts.warnf("notify %s: the server answered %s", redact(url), resp.Status)
	}
}

// redact keeps a URL's scheme and host only: ping URLs and query strings
// carry secrets (a healthchecks UUID, a Gotify token).
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			rest = rest[:j]
		}
		return u[:i+3] + rest + "/…"
	}
	return "(webhook)"
}
