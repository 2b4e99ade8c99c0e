package config

import (
	"net"
	"strings"

	"github.com/robfig/cron/v3"
)

// DefaultListen is the daemon's health and metrics address unless
// daemon.listen says otherwise: loopback only.
const DefaultListen = "127.0.0.1:9810"

// Daemon is what `immich-vault daemon` runs and where it answers.
type Daemon struct {
	// Listen is the address of the health endpoint (/healthz) and, with
	// Metrics, of /metrics. Default DefaultListen; "off" serves nothing.
	// A non-loopback address needs AllowRemote.
	Listen string `yaml:"listen"`
	// AllowRemote lets Listen be a non-loopback address (in a container,
	// to be reached from the host or a Prometheus on another network).
	AllowRemote bool `yaml:"allow_remote"`
	// Metrics serves Prometheus metrics on /metrics.
	Metrics bool `yaml:"metrics"`
	// Jobs are the scheduled jobs, run one at a time.
	Jobs []Job `yaml:"jobs"`
	// Serve, when set, makes the daemon also serve the web UI of
	// `immich-vault serve`, with the jobs' history on its timeline.
	Serve *DaemonServe `yaml:"serve"`
}

// DefaultServeListen is the web UI's address in the daemon unless
// daemon.serve.listen says otherwise (serve's default: loopback).
const DefaultServeListen = "127.0.0.1:8470"

// DaemonServe is the web UI the daemon serves (daemon.serve).
type DaemonServe struct {
	// Listen is the web UI's address; default DefaultServeListen. A
	// non-loopback address needs AllowRemote.
	Listen string `yaml:"listen"`
	// PasswordFile holds the web UI's password (first line, at least 8
	// characters). Required: the UI is never served without one.
	PasswordFile string `yaml:"password_file"`
	// RestoreRoot is the only directory the UI may restore into; empty:
	// restores from the UI are refused.
	RestoreRoot string `yaml:"restore_root"`
	// AllowRemote lets Listen be a non-loopback address and the UI answer
	// to any Host name.
	AllowRemote bool `yaml:"allow_remote"`
	// ToImmich is the URL of a running Immich the UI may upload a
	// selection into (API key from env IMMICH_API_KEY); empty: none.
	ToImmich string `yaml:"to_immich"`
}

// ListenAddr returns the web UI's address.
func (s *DaemonServe) ListenAddr() string {
	if s.Listen == "" {
		return DefaultServeListen
	}
	return s.Listen
}

func (s *DaemonServe) validate() error {
	host, _, err := net.SplitHostPort(s.ListenAddr())
	if err != nil {
		return invalid("daemon.serve.listen %q: want host:port (e.g. %s)", s.Listen, DefaultServeListen)
	}
	if !loopback(host) && !s.AllowRemote {
		return invalid("daemon.serve.listen %q is not a loopback address: set daemon.serve.allow_remote: true to serve the web UI beyond this machine (and put it behind a TLS reverse proxy)", s.Listen)
	}
	if s.PasswordFile == "" {
		return invalid("daemon.serve needs password_file: a file whose first line is the web UI's password (at least 8 characters; not the repository password)")
	}
	return nil
}

// Job is one scheduled immich-vault command.
type Job struct {
	Name string `yaml:"name"`
	// Schedule is a cron expression: five fields (minute hour day month
	// weekday), six with seconds first, or @daily, @every 6h, ...;
	// "CRON_TZ=Europe/Paris 30 3 * * *" sets the time zone.
	Schedule string `yaml:"schedule"`
	// Command is the immich-vault command line the job runs with this
	// configuration file (default: [run]).
	Command []string `yaml:"command"`
}

// Args returns the job's command line (without the program name).
func (j Job) Args() []string {
	if len(j.Command) == 0 {
		return []string{"run"}
	}
	return j.Command
}

// scheduleParser accepts 5 fields, 6 with seconds first, and descriptors.
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a job's cron expression.
func ParseSchedule(s string) (cron.Schedule, error) {
	return scheduleParser.Parse(s)
}

// ListenAddr returns the address to serve on ("" for off).
func (d *Daemon) ListenAddr() string {
	switch d.Listen {
	case "":
		return DefaultListen
	case "off":
		return ""
	}
	return d.Listen
}

func (d *Daemon) validate() error {
	if addr := d.ListenAddr(); addr != "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return invalid("daemon.listen %q: want host:port (e.g. %s) or off", d.Listen, DefaultListen)
		}
		if !loopback(host) && !d.AllowRemote {
			return invalid("daemon.listen %q is not a loopback address: set daemon.allow_remote: true to serve health and metrics beyond this machine (or this container)", d.Listen)
		}
	} else if d.Metrics {
		return invalid("daemon.metrics needs daemon.listen (it is off)")
	}
	if d.Serve != nil {
		if err := d.Serve.validate(); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i, j := range d.Jobs {
		if j.Name == "" {
			return invalid("daemon.jobs[%d] has no name", i)
		}
		if seen[j.Name] {
			return invalid("daemon job %q is listed twice", j.Name)
		}
		seen[j.Name] = true
		if j.Schedule == "" {
			return invalid("daemon job %q has no schedule (a cron expression such as \"30 3 * * *\")", j.Name)
		}
		if _, err := ParseSchedule(j.Schedule); err != nil {
			return invalid("daemon job %q: schedule %q: %v", j.Name, j.Schedule, err)
		}
		if a := j.Args(); a[0] == "daemon" || strings.HasPrefix(a[0], "-") {
			return invalid("daemon job %q: command %q: want an immich-vault command such as [run] or [check, --read-data-subset, 1/7]", j.Name, strings.Join(a, " "))
		}
	}
	return nil
}

// loopback reports whether host names only this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
