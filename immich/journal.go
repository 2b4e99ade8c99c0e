package immich

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrQuiesceBusy: another live run holds the quiesce journal of this Immich.
var ErrQuiesceBusy = errors.New("immich: another immich-vault run is quiescing this Immich")

// Journal is the on-disk record of a quiesce in progress: before Immich is
// stopped or put in maintenance mode, a record (QuiesceRecord, JSON, mode
// 0600 because it may hold the maintenance token) is written to
// <dir>/quiesce-<key>.json; it is removed once the quiesce is undone. The
// run holds an exclusive lock (flock) on <dir>/quiesce-<key>.lock for as
// long as it lives: the kernel releases it when the process ends in any
// way (SIGKILL included), so whoever can take the lock knows the record's
// owner is gone, without trusting a PID across PID namespaces. The next
// `immich backup`, `immich resume` and the backup's watchdog act on a record
// whose lock they can take.
type Journal struct {
	dir, key string
	lock     *os.File
}

// StateDir is where quiesce journals live: IMMICH_VAULT_STATE_DIR, else
// $XDG_STATE_HOME/immich-vault, else ~/.local/state/immich-vault.
func StateDir() (string, error) {
	if d := os.Getenv("IMMICH_VAULT_STATE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "immich-vault"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory (set IMMICH_VAULT_STATE_DIR): %w", err)
	}
	return filepath.Join(home, ".local", "state", "immich-vault"), nil
}

// JournalKey names the journal of one Immich (its server container and URL).
func JournalKey(container, url string) string {
	s := sha256.Sum256([]byte(container + "\x00" + strings.TrimSuffix(url, "/")))
	return hex.EncodeToString(s[:6])
}

// OpenJournal takes the lock of journal key in dir (created 0700). It fails
// with ErrQuiesceBusy when a live run holds it.
func OpenJournal(dir, key string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("quiesce journal: %w", err)
	}
	j := &Journal{dir: dir, key: key}
	f, err := os.OpenFile(j.lockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("quiesce journal: %w", err)
	}
	busy, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("quiesce journal: lock %s: %w", j.lockPath(), err)
	}
	if busy {
		f.Close()
		detail := ""
		if rec, _ := j.Read(); rec != nil {
			detail = fmt.Sprintf(" (pid %d on %s, since %s)", rec.PID, rec.Host, rec.Started.Local().Format("15:04:05"))
		}
		return nil, fmt.Errorf("%w%s: %s is locked", ErrQuiesceBusy, detail, j.lockPath())
	}
	j.lock = f
	return j, nil
}

// ListJournals returns the keys of the journals with a record in dir.
func ListJournals(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "quiesce-*.json"))
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, p := range m {
		keys = append(keys, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "quiesce-"), ".json"))
	}
	sort.Strings(keys)
	return keys, nil
}

func (j *Journal) lockPath() string { return filepath.Join(j.dir, "quiesce-"+j.key+".lock") }

// Path is the record file.
func (j *Journal) Path() string { return filepath.Join(j.dir, "quiesce-"+j.key+".json") }

// Read returns the record, or nil when there is none.
func (j *Journal) Read() (*QuiesceRecord, error) {
	b, err := os.ReadFile(j.Path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quiesce record: %w", err)
	}
	var rec QuiesceRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("quiesce record %s is unreadable (%v): check Immich by hand and delete it", j.Path(), err)
	}
	return &rec, nil
}

// Write stores rec durably (temporary file, fsync, rename, fsync of the
// directory): a crash leaves the old record or the new one, never half.
func (j *Journal) Write(rec *QuiesceRecord) error {
	if rec.PID == 0 {
		rec.PID = os.Getpid()
		rec.Host, _ = os.Hostname()
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(j.dir, ".quiesce-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), j.Path()); err != nil {
		return err
	}
	return syncDir(j.dir)
}

// Clear removes the record (the quiesce was undone).
func (j *Journal) Clear() error {
	if err := os.Remove(j.Path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(j.dir)
}

// Close releases the lock; the record, if any, stays for the next run.
func (j *Journal) Close() error {
	if j == nil || j.lock == nil {
		return nil
	}
	err := j.lock.Close()
	j.lock = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
