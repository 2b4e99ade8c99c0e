package main

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/immich-vault/immich-vault/repo"
)

// backupStatusJSON is one status line of `backup --json` (restic's shape:
// one JSON object per line, message_type "status"; the last line is the
// summary, message_type "summary").
type backupStatusJSON struct {
	MessageType    string  `json:"message_type"` // status
	SecondsElapsed int64   `json:"seconds_elapsed"`
	SecondsLeft    int64   `json:"seconds_remaining,omitempty"`
	PercentDone    float64 `json:"percent_done"`
	TotalFiles     int64   `json:"total_files,omitempty"`
	FilesDone      int64   `json:"files_done"`
	TotalBytes     int64   `json:"total_bytes,omitempty"`
	BytesDone      int64   `json:"bytes_done"`
	ErrorCount     int64   `json:"error_count"`
}

// jsonStatus streams backup status lines to stdout: one at the start, one
// every interval, and a last one (100%) when stop is called.
type jsonStatus struct {
	p        *repo.Progress
	total    func() (files, bytes int64, ok bool)
	start    time.Time
	stopOnce sync.Once
	stopCh   chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex // one line at a time
}

const jsonStatusInterval = time.Second

func startJSONStatus(p *repo.Progress, total func() (int64, int64, bool)) *jsonStatus {
	s := &jsonStatus{p: p, total: total, start: time.Now(), stopCh: make(chan struct{})}
	s.emit(false)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(jsonStatusInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stopCh:
				return
			case <-t.C:
				s.emit(false)
			}
		}
	}()
	return s
}

// stop ends the stream; done says whether the backup finished (then a
// last status line at 100% is written).
func (s *jsonStatus) stop(done bool) {
	s.stopOnce.Do(func() {
		close(s.stopCh)
		s.wg.Wait()
		if done {
			s.emit(true)
		}
	})
}

func (s *jsonStatus) emit(final bool) {
	el := time.Since(s.start)
	st := backupStatusJSON{MessageType: "status", SecondsElapsed: int64(el.Seconds()), FilesDone: s.p.Files.Load(),
		BytesDone: s.p.Bytes.Load(), ErrorCount: s.p.Errors.Load()}
	if files, bytes, ok := s.total(); ok {
		st.TotalFiles, st.TotalBytes = files, bytes
		if bytes > 0 {
			st.PercentDone = min(float64(st.BytesDone)/float64(bytes), 1)
			if st.PercentDone > 0 && st.PercentDone < 1 {
				st.SecondsLeft = int64(el.Seconds() * (1 - st.PercentDone) / st.PercentDone)
			}
		}
	}
	if final {
		st.PercentDone, st.SecondsLeft = 1, 0
	}
	b, _ := json.Marshal(st)
	s.mu.Lock()
	defer s.mu.Unlock()
	gopts.stdout.Write(append(b, '\n'))
}

// printJSONLine prints v as one line of JSON (a message of a stream).
func printJSONLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = gopts.stdout.Write(append(b, '\n'))
	return err
}

// emptyCheckLists sets check's nil lists to empty ones, so --json prints []
// (never null) as every other command does.
func emptyCheckLists(res *repo.CheckResult) {
	if res.Damaged == nil {
		res.Damaged = []repo.DamagedBlob{}
	}
	if res.Affected == nil {
		res.Affected = []repo.AffectedFile{}
	}
	if res.Unindexed == nil {
		res.Unindexed = []string{}
	}
	if res.DamagedSnapshots == nil {
		res.DamagedSnapshots = []string{}
	}
}
