package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// rerenderMain reads the raw figures of a finished run (the JSON the run
// wrote beside its report), recomputes the cold-backup and restore bounds
// from that run's own measured floors with this driver's rules
// (setColdBound, setRestoreBound), and rewrites the generated part of out.
// Nothing is run or measured again: every time, floor and rate is the
// run's. The report says that its bounds were recomputed, and when.
//
// It exists because a bound rule can be found wrong only by a run (a
// backup faster than its "bound"), and a full run takes 1.5 hours: the
// fixed rule is applied to the figures that showed the defect.
func rerenderMain(in, out string) error {
	js, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(js, &rep); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var changed []string
	for _, s := range rep.Scenarios {
		before := s.Bound
		switch {
		case strings.HasPrefix(s.Key, "cold"):
			name := strings.TrimPrefix(s.Key, "cold")
			fl, ok := rep.Floors[name]
			if !ok {
				continue
			}
			setColdBound(&rep, s, name, fl)
		case strings.HasPrefix(s.Key, "restore"):
			name := strings.TrimPrefix(s.Key, "restore")
			rr, ok := rep.RepoReads[name]
			if !ok {
				continue
			}
			setRestoreBound(&rep, s, name, rr, rep.WriteFloors[name])
		default:
			continue
		}
		if s.Bound != before {
			changed = append(changed, fmt.Sprintf("%s %.2f s → %.2f s", s.Title, before.Seconds(), s.Bound.Seconds()))
		}
	}
	note := fmt.Sprintf("bounds recomputed on %s from this run's own measured floors (`go run ./bench/cmd/bench -rerender %s`; nothing was run again)",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), in)
	if len(changed) > 0 {
		note += ": " + strings.Join(changed, "; ")
	} else {
		note += "; none changed"
	}
	rep.Rerendered = append(rep.Rerendered, note)
	if err := writeReport(out, &rep); err != nil {
		return err
	}
	js, err = json.MarshalIndent(&rep, "", "  ")
	if err != nil {
		return err
	}
	logf("%s", note)
	return os.WriteFile(strings.TrimSuffix(out, ".md")+".json", js, 0o644)
}
