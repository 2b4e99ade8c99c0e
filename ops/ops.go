package ops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ChangedBytes sums the sizes of regular files under roots changed at or
// after since (ChangedSince; all files when since is zero): an upper bound of what a backup
// adds (before deduplication and compression). Symlinks are not followed
// (a root that is one counts nothing); unreadable parts are skipped (the
// backup itself reports them).
//
// It runs before the backup reads anything, so its time adds to every
// backup's: directories are listed and their entries lstat'ed by up to
// changedBytesWalkers goroutines, which on a cold cache keep the disk
// busy where one walker waits for each directory in turn (a no-change
// backup of 50 000 Immich thumbnails in 45 000 directories took twice as
// long with a serial walk before it).
func ChangedBytes(ctx context.Context, roots []string, since time.Time) (int64, error) {
	w := &changedWalk{ctx: ctx, since: since, sem: make(chan struct{}, changedBytesWalkers-1)}
	for _, root := range roots {
		fi, err := os.Lstat(root)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			w.dir(root)
		} else {
			w.file(fi)
		}
	}
	w.wg.Wait()
	if err := ctx.Err(); err != nil {
		return w.total.Load(), err
	}
	return w.total.Load(), nil
}

// ChangedSince reports whether the file fi describes may have changed at
// or after since: its modification time or its status change time
// (ctime) is not before since. The modification time alone is not
// enough: programs set it to whatever they like, and Immich sets every
// uploaded original (and its sidecar) to the client's file modification
// time, often years old (server/src/services/asset-media.service.ts,
// utimes after the upload), while the kernel sets the ctime to its own
// clock on every create, write, rename and utimes. A renamed file counts
// too, which overcounts a library moved by Immich's storage template:
// for a free-space check that errs on the safe side (--no-space-check
// skips it). Without a ctime (Windows) only the modification time counts.
func ChangedSince(fi fs.FileInfo, since time.Time) bool {
	if !fi.ModTime().Before(since) {
		return true
	}
	ct, ok := ctimeOf(fi)
	return ok && !ct.Before(since)
}

// ClockSlack is how far ahead of this machine's clock the clock that
// timed a parent snapshot may have been: SpaceSince counts the files
// changed in that much time before the parent too.
const ClockSlack = time.Hour

// SpaceSince is the time from which a free-space check counts changed
// files (ChangedSince) for a backup whose parent snapshot was taken at
// parent (zero: no parent, every file counts): ClockSlack before it.
// The parent's time is its creator's clock, the ctimes are this kernel's:
// a parent made by a clock that ran ahead (another container with the
// same hostname, a clock that NTP has set back since) would otherwise hide
// every file changed in between. The cost is counting again the files
// changed in the hour before the parent, which that backup already holds:
// the check errs on the safe side.
func SpaceSince(parent time.Time) time.Time {
	if parent.IsZero() {
		return parent
	}
	return parent.Add(-ClockSlack)
}

// SpaceNeed is what backup's free-space check asks of the repository's
// file system for n bytes of source files: n plus the blobs' sealing and
// the packs' headers (under 1/64), trees, index and snapshot (a few MiB).
// A fixed margin of tens of MiB would refuse small backups onto a nearly
// full disk that they fit (TestSignalRepositoryDiskFull).
func SpaceNeed(n uint64) uint64 { return n + n/64 + 4<<20 }

// CountsChanged reports whether a backup's free-space check must count
// the changed files under paths for a repository with free bytes free:
// unless everything their file systems hold (SourceBound) fits. The plain
// backup counts them in its walk ahead (archiver.BackupOptions.SpaceGate);
// immich backup walks them first (ChangedBytes). used is that bound, 0
// when there is none.
func CountsChanged(paths []string, free uint64) (walk bool, used uint64) {
	bound, ok := SourceBound(paths)
	if !ok {
		return true, 0
	}
	return SpaceNeed(bound) > free, bound
}

// changedBytesWalkers bounds ChangedBytes' goroutines: queue depth for a
// cold disk, as the benchmarks' list+lstat floor measures it (8).
const changedBytesWalkers = 8

type changedWalk struct {
	ctx   context.Context
	since time.Time
	total atomic.Int64
	sem   chan struct{} // slots for walkers beyond the caller's
	wg    sync.WaitGroup
}

func (w *changedWalk) file(fi fs.FileInfo) {
	if fi.Mode().IsRegular() && (w.since.IsZero() || ChangedSince(fi, w.since)) {
		w.total.Add(fi.Size())
	}
}

// dir adds the files under directory p; its subdirectories are walked by
// new goroutines while slots are free, inline otherwise.
func (w *changedWalk) dir(p string) {
	if w.ctx.Err() != nil {
		return
	}
	entries, _ := os.ReadDir(p) // on an error: the entries read so far
	for _, d := range entries {
		if w.ctx.Err() != nil {
			return
		}
		cp := filepath.Join(p, d.Name())
		switch {
		case d.IsDir():
			select {
			case w.sem <- struct{}{}:
				w.wg.Add(1)
				go func() {
					defer w.wg.Done()
					defer func() { <-w.sem }()
					w.dir(cp)
				}()
			default:
				w.dir(cp)
			}
		case d.Type().IsRegular():
			if fi, err := d.Info(); err == nil {
				w.file(fi)
			}
		}
	}
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

// textfile builds a Prometheus text exposition: each family's HELP and
// TYPE once, its samples (with or without labels) after them.
type textfile struct {
	order []string
	fams  map[string]*bytes.Buffer
}

func (t *textfile) gauge(name, help, labels string, v float64) {
	if t.fams == nil {
		t.fams = map[string]*bytes.Buffer{}
	}
	b, ok := t.fams[name]
	if !ok {
		b = &bytes.Buffer{}
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		t.fams[name] = b
		t.order = append(t.order, name)
	}
	fmt.Fprintf(b, "%s%s %s\n", name, labels, strconv.FormatFloat(v, 'f', -1, 64))
}

func (t *textfile) bytes() []byte {
	var out bytes.Buffer
	for _, n := range t.order {
		out.Write(t.fams[n].Bytes())
	}
	return out.Bytes()
}

// previous returns the samples of the file at path (none if unreadable).
func previous(path string) map[string]float64 {
	old, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return ParseMetrics(old)
}

// backupGauges adds m's immich_vault_backup_* set to t, keeping the
// last-success timestamp of old when this run failed.
func backupGauges(t *textfile, m Metrics, old map[string]float64) {
	if !m.Success && m.LastSuccess.IsZero() {
		if v, ok := old[metricPrefix+"last_success_timestamp_seconds"]; ok {
			m.LastSuccess = time.Unix(int64(v), 0)
		}
	}
	if m.Success {
		m.LastSuccess = m.Start.Add(m.Duration)
	}
	metric := func(name, help string, v float64) { t.gauge(metricPrefix+name, help, "", v) }
	if !m.LastSuccess.IsZero() {
		metric("last_success_timestamp_seconds", "Unix time the last successful immich backup ended.", float64(m.LastSuccess.Unix()))
	}
	metric("last_run_timestamp_seconds", "Unix time the last immich backup ended.", float64(m.Start.Add(m.Duration).Unix()))
	metric("duration_seconds", "Duration of the last immich backup.", m.Duration.Seconds())
	metric("exit_status", "Exit code of the last immich backup (0 success, 3 partial, 10 repository missing, 12 wrong password).", float64(m.ExitCode))
	metric("bytes_added", "Bytes of new data the last backup added (before compression).", float64(m.BytesAdded))
	metric("files", "Files in the last backup.", float64(m.Files))
	metric("database_dump_bytes", "Size of the last database dump.", float64(m.DumpBytes))
	metric("assets", "Assets in the database at the last backup.", float64(m.Assets))
}

// WriteMetrics writes m to path atomically (temporary file + rename in the
// same directory), keeping the last-success timestamp of the previous file
// when this run failed, so an alert on its age fires.
func WriteMetrics(path string, m Metrics) error {
	var t textfile
	backupGauges(&t, m, previous(path))
	return writeMerged(path, &t, func(id string) bool { return !strings.HasPrefix(id, metricPrefix) })
}

// StepMetrics is the result of one step of `immich-vault run`.
type StepMetrics struct {
	Step     string // "backup", "forget", "prune", "check", "copy:NAME", "hook:before"...
	Status   string // ok, partial, failed, skipped
	ExitCode int
	End      time.Time
	Duration time.Duration
}

// RunMetrics is one `immich-vault run`: the run, each step, and the
// backup's own set (nil when the run has no backup step).
type RunMetrics struct {
	Start    time.Time
	Duration time.Duration
	ExitCode int
	Success  bool
	Backup   *Metrics
	Steps    []StepMetrics
}

const runPrefix, stepPrefix = "immich_vault_run_", "immich_vault_step_"

// WriteRunMetrics writes r to path atomically: immich_vault_run_* for the
// run, immich_vault_step_*{step="..."} for each step and, when the run
// has a backup step, the immich_vault_backup_* set that `immich backup
// --metrics-file` writes. Last-success timestamps of the previous file
// are kept for whatever failed or was skipped this time.
func WriteRunMetrics(path string, r RunMetrics) error {
	old := previous(path)
	var t textfile
	end := r.Start.Add(r.Duration)
	if r.Success {
		t.gauge(runPrefix+"last_success_timestamp_seconds", "Unix time the last successful run ended.", "", float64(end.Unix()))
	} else if v, ok := old[runPrefix+"last_success_timestamp_seconds"]; ok {
		t.gauge(runPrefix+"last_success_timestamp_seconds", "Unix time the last successful run ended.", "", v)
	}
	t.gauge(runPrefix+"last_run_timestamp_seconds", "Unix time the last run ended.", "", float64(end.Unix()))
	t.gauge(runPrefix+"duration_seconds", "Duration of the last run.", "", r.Duration.Seconds())
	t.gauge(runPrefix+"exit_status", "Exit code of the last run (the first failing step's; 3 partial).", "", float64(r.ExitCode))
	for _, s := range r.Steps {
		l := `{step="` + labelValue(s.Step) + `"}`
		ok := s.Status == "ok" || s.Status == "partial"
		if ok {
			t.gauge(stepPrefix+"last_success_timestamp_seconds", "Unix time the step last succeeded.", l, float64(s.End.Unix()))
		} else if v, found := old[stepPrefix+"last_success_timestamp_seconds"+l]; found {
			t.gauge(stepPrefix+"last_success_timestamp_seconds", "Unix time the step last succeeded.", l, v)
		}
		skipped := 0.0
		if s.Status == "skipped" {
			skipped = 1
		} else {
			t.gauge(stepPrefix+"last_run_timestamp_seconds", "Unix time the step last ran.", l, float64(s.End.Unix()))
		}
		t.gauge(stepPrefix+"duration_seconds", "Duration of the step in the last run.", l, s.Duration.Seconds())
		t.gauge(stepPrefix+"exit_status", "Exit code of the step in the last run (0 also when skipped).", l, float64(s.ExitCode))
		t.gauge(stepPrefix+"skipped", "1 if the last run skipped the step (not due, or an earlier step failed).", l, skipped)
	}
	if r.Backup != nil {
		backupGauges(&t, *r.Backup, old)
	}
	return writeMerged(path, &t, func(id string) bool {
		return !strings.HasPrefix(id, runPrefix) && !strings.HasPrefix(id, stepPrefix) && (r.Backup == nil || !strings.HasPrefix(id, metricPrefix))
	})
}

// CommandMetrics is one run of a plain command (backup, forget, prune,
// check, copy) given --metrics-file.
type CommandMetrics struct {
	Command    string // its label: "backup", "forget"...
	Start      time.Time
	Duration   time.Duration
	ExitCode   int
	Success    bool
	Backup     bool  // a backup: BytesAdded and Files are written (also when 0)
	BytesAdded int64 // backup: new data added (before compression)
	Files      int64 // backup: files in the snapshot
}

const commandPrefix = "immich_vault_command_"

// WriteCommandMetrics writes m to path atomically as the
// immich_vault_command_*{command="..."} samples of m.Command. Everything
// else in the previous file (other commands' samples, run's and immich
// backup's families: one configuration's metrics_file serves them all) is
// kept, and so is this command's last-success time when it failed, so an
// alert on its age fires.
func WriteCommandMetrics(path string, m CommandMetrics) error {
	l := `{command="` + labelValue(m.Command) + `"}`
	lastSuccess := commandPrefix + "last_success_timestamp_seconds" + l
	var t textfile
	end := m.Start.Add(m.Duration)
	if m.Success {
		t.gauge(commandPrefix+"last_success_timestamp_seconds", "Unix time the command last succeeded.", l, float64(end.Unix()))
	}
	t.gauge(commandPrefix+"last_run_timestamp_seconds", "Unix time the command last ended.", l, float64(end.Unix()))
	t.gauge(commandPrefix+"duration_seconds", "Duration of the command's last run.", l, m.Duration.Seconds())
	t.gauge(commandPrefix+"exit_status", "Exit code of the command's last run (0 success, 3 partial, 10 repository missing, 11 locked, 12 wrong password, 130 interrupted).", l, float64(m.ExitCode))
	if m.Backup {
		t.gauge(commandPrefix+"bytes_added", "Bytes of new data the command's last run added (backup; before compression).", l, float64(m.BytesAdded))
		t.gauge(commandPrefix+"files", "Files in the snapshot of the command's last run (backup).", l, float64(m.Files))
	}
	return writeMerged(path, &t, func(id string) bool {
		if !strings.HasPrefix(id, commandPrefix) || !strings.HasSuffix(id, l) {
			return true // not this command's
		}
		return !m.Success && id == lastSuccess
	})
}

// writeMerged writes t, then the samples of the previous file at path that
// keep accepts ("name" or "name{labels}", as ParseMetrics names them), to
// path atomically, holding a lock on path's folder (lockDir) meanwhile so
// that concurrent writers do not drop each other's samples. Each family stays in one group under its HELP and TYPE
// lines, as the text format requires.
func writeMerged(path string, t *textfile, keep func(id string) bool) error {
	defer lockDir(filepath.Dir(path))()
	old, err := os.ReadFile(path)
	if err != nil {
		return writeAtomic(path, t.bytes())
	}
	type family struct {
		head    []string
		samples []string
	}
	fams := map[string]*family{}
	var order []string
	get := func(name string) *family {
		f, ok := fams[name]
		if !ok {
			f = &family{}
			fams[name] = f
			order = append(order, name)
		}
		return f
	}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "#" && (f[1] == "HELP" || f[1] == "TYPE"):
			cur = f[2]
			get(cur).head = append(get(cur).head, line)
		case len(f) == 2 && !strings.HasPrefix(f[0], "#"):
			name, _, _ := strings.Cut(f[0], "{")
			if cur == "" || name != cur && !strings.HasPrefix(name, cur+"_") {
				cur = name
			}
			if keep(f[0]) {
				get(cur).samples = append(get(cur).samples, line)
			}
		}
	}
	if t.fams == nil {
		t.fams = map[string]*bytes.Buffer{}
	}
	for _, name := range order {
		f := fams[name]
		if len(f.samples) == 0 {
			continue
		}
		b, ok := t.fams[name]
		if !ok {
			b = &bytes.Buffer{}
			for _, h := range f.head {
				b.WriteString(h + "\n")
			}
			t.fams[name] = b
			t.order = append(t.order, name)
		}
		for _, s := range f.samples {
			b.WriteString(s + "\n")
		}
	}
	return writeAtomic(path, t.bytes())
}

func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c == ':' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	return string(b)
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
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

// ParseMetrics reads the samples of a textfile: "name value" under name,
// "name{labels} value" under name{labels} as written (comments and
// malformed lines are skipped).
func ParseMetrics(b []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") {
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

// ErrWrongMount: the repository is not on the mount (or file system UUID)
// the configuration requires (RequireMount, RequireUUID).
var ErrWrongMount = errors.New("repository is not on the required mount")
