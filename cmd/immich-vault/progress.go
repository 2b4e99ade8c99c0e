package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/immich-vault/immich-vault/repo"
)

// progressPrinter shows a one-line status on a terminal (stderr) and stays
// silent otherwise (cron, pipes, --json, --quiet).
type progressPrinter struct {
	p      *repo.Progress
	start  time.Time
	total  func() (files, bytes int64, ok bool)
	stop   chan struct{}
	wg     sync.WaitGroup
	active bool
	verb   string
}

func newProgress(verb string, p *repo.Progress, total func() (int64, int64, bool)) *progressPrinter {
	pp := &progressPrinter{p: p, start: time.Now(), total: total, stop: make(chan struct{}), verb: verb}
	pp.active = !gopts.quiet && !gopts.json && isTerminal(os.Stderr)
	if pp.active {
		pp.wg.Add(1)
		go pp.loop()
	}
	return pp
}

func (pp *progressPrinter) loop() {
	defer pp.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-pp.stop:
			fmt.Fprint(os.Stderr, "\r\033[K")
			return
		case <-t.C:
			fmt.Fprint(os.Stderr, "\r\033[K"+pp.line())
		}
	}
}

func (pp *progressPrinter) line() string {
	el := time.Since(pp.start)
	if pp.total != nil {
		// Counted in items only (check's packs): done/total, share, ETA.
		if tf, tb, ok := pp.total(); ok && tb == 0 && tf > 0 {
			done := pp.p.Files.Load()
			s := fmt.Sprintf("[%s] %s %d of %d (%.0f%%)", fmtDur(el), pp.verb, done, tf, 100*float64(done)/float64(tf))
			if done > 0 && tf > done {
				s += " ETA " + fmtDur(time.Duration(float64(el)*float64(tf-done)/float64(done)))
			}
			return s
		}
	}
	bytes := pp.p.Bytes.Load()
	rate := float64(bytes) / el.Seconds()
	s := fmt.Sprintf("[%s] %s %d files, %s, %s/s", fmtDur(el), pp.verb, pp.p.Files.Load(),
		humanize.IBytes(uint64(bytes)), humanize.IBytes(uint64(rate)))
	if pp.total != nil {
		if tf, tb, ok := pp.total(); ok && tb > 0 {
			if tf > 0 {
				s += fmt.Sprintf(" of %d files,", tf)
			} else {
				s += " of"
			}
			s += fmt.Sprintf(" %s (%.0f%%)", humanize.IBytes(uint64(tb)), 100*float64(bytes)/float64(tb))
			if rate > 0 && tb > bytes {
				s += " ETA " + fmtDur(time.Duration(float64(tb-bytes)/rate*float64(time.Second)))
			}
		}
	}
	if e := pp.p.Errors.Load(); e > 0 {
		s += fmt.Sprintf(", %d errors", e)
	}
	return s
}

func (pp *progressPrinter) done() {
	if pp.active {
		close(pp.stop)
		pp.wg.Wait()
	}
}

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", m, s)
}
