package immich

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ChangedBytes sums the sizes of regular files under roots modified after
// since (all files when since is zero): an upper bound of what a backup
// adds (before deduplication and compression).
func ChangedBytes(ctx context.Context, roots []string, since time.Time) (int64, error) {
	var total int64
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable parts are reported by the backup itself
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil && (since.IsZero() || fi.ModTime().After(since) || fi.ModTime().Equal(since)) {
					total += fi.Size()
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// NewestChange returns the newest modification time of any file or folder
// under roots (missing roots are ignored).
func NewestChange(ctx context.Context, roots []string) (time.Time, error) {
	var newest time.Time
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if fi, err := d.Info(); err == nil && fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
			return nil
		})
		if err != nil {
			return newest, err
		}
	}
	return newest, nil
}

// WaitQuiet waits until nothing under roots changed for quiet (phones
// finishing uploads), checking every poll, for at most max. It returns
// whether the quiet period was reached (false: max elapsed) and how long it
// waited; only ctx's cancellation is an error.
func WaitQuiet(ctx context.Context, roots []string, quiet, limit, poll time.Duration) (bool, time.Duration, error) {
	start := time.Now()
	if poll <= 0 {
		poll = min(max(quiet/4, time.Second), 30*time.Second)
	}
	for {
		newest, err := NewestChange(ctx, roots)
		if err != nil {
			return false, time.Since(start), err
		}
		now := time.Now()
		if now.Sub(newest) >= quiet {
			return true, now.Sub(start), nil
		}
		if now.Sub(start) >= limit {
			return false, now.Sub(start), nil
		}
		wait := min(poll, quiet-now.Sub(newest), limit-now.Sub(start))
		select {
		case <-ctx.Done():
			return false, time.Since(start), ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Metrics is one run's result for the Prometheus textfile collector.
type Metrics struct {
	Start       time.Time
	Duration    time.Duration
	ExitCode    int
	BytesAdded  int64
	Files       int64
	DumpBytes   int64
	Assets      int64
	SnapshotID  string
	Success     bool
	LastSuccess time.Time // filled from the previous file when zero and !Success
}

const metricPrefix = "immich_vault_backup_"

// WriteMetrics writes m to path atomically (temporary file + rename in the
// same directory), keeping the last-success timestamp of the previous file
// when this run failed, so an alert on its age fires.
func WriteMetrics(path string, m Metrics) error {
	if !m.Success && m.LastSuccess.IsZero() {
		if old, err := os.ReadFile(path); err == nil {
			if v, ok := ParseMetrics(old)[metricPrefix+"last_success_timestamp_seconds"]; ok {
				m.LastSuccess = time.Unix(int64(v), 0)
			}
		}
	}
	if m.Success {
		m.LastSuccess = m.Start.Add(m.Duration)
	}
	var b bytes.Buffer
	metric := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s%s %s\n# TYPE %s%s gauge\n%s%s %s\n", metricPrefix, name, help, metricPrefix, name, metricPrefix, name, strconv.FormatFloat(v, 'f', -1, 64))
	}
	if !m.LastSuccess.IsZero() {
		metric("last_success_timestamp_seconds", "Unix time the last successful immich backup ended.", float64(m.LastSuccess.Unix()))
	}
	metric("last_run_timestamp_seconds", "Unix time the last immich backup ended.", float64(m.Start.Add(m.Duration).Unix()))
	metric("duration_seconds", "Duration of the last immich backup.", m.Duration.Seconds())
	metric("exit_status", "Exit code of the last immich backup (0 success, 3 partial).", float64(m.ExitCode))
	metric("bytes_added", "Bytes of new data the last backup added (before compression).", float64(m.BytesAdded))
	metric("files", "Files in the last backup.", float64(m.Files))
	metric("database_dump_bytes", "Size of the last database dump.", float64(m.DumpBytes))
	metric("assets", "Assets in the database at the last backup.", float64(m.Assets))
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("metrics file: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("metrics file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// ParseMetrics reads "name value" samples of a textfile (comments, labels
// and malformed lines are skipped).
func ParseMetrics(b []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") || strings.ContainsAny(f[0], "{}") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// AppendLog appends one line to the log file (created 0640).
func AppendLog(path string, fields map[string]string) error {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	sb.WriteString(time.Now().UTC().Format(time.RFC3339))
	for _, k := range keys {
		v := fields[k]
		if v == "" || strings.ContainsAny(v, " \t\"=") {
			v = strconv.Quote(v)
		}
		sb.WriteString(" " + k + "=" + v)
	}
	sb.WriteByte('\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	return f.Close()
}
