package web

import "time"

// JobSource is the read-only view of a scheduler's jobs the timeline shows
// when the server runs inside `immich-vault daemon` (Options.Jobs). The
// daemon implements it; web never starts or changes a job.
type JobSource interface {
	// Jobs returns each job's state, in the configuration's order. It is
	// called once per timeline page and must be safe for concurrent use.
	Jobs() []JobStatus
}

// JobStatus is one scheduled job.
type JobStatus struct {
	Name     string
	Schedule string
	Command  []string
	Next     time.Time
	Runs     int // runs that ended
	Failures int // runs that ended with an exit code other than 0 and 3
	Refused  int // times it was due while another job ran
	Last     *JobRun
}

// JobRun is one run of a job.
type JobRun struct {
	Start    time.Time
	Duration time.Duration // so far, while Status is "running"
	ExitCode int
	Status   string // running, ok, partial, failed, interrupted
}

// jobsView returns the jobs to show, nil outside the daemon.
func (s *Server) jobsView() []JobStatus {
	if s.opts.Jobs == nil {
		return nil
	}
	return s.opts.Jobs.Jobs()
}
