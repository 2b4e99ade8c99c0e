package main_test

import (
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// daemonRun is an `immich-vault daemon` started by startDaemon.
type daemonRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *daemonOutput // its stdout and stderr
	exited chan error
	ended  bool // exited has been received from

	health string // the health endpoint's base URL ("http://127.0.0.1:port")
	ui     string // the web UI's URL (with a UI only)
}

var (
	daemonHealthRe = regexp.MustCompile(`health on (http://[0-9.:]+)/healthz`)
	daemonUIRe     = regexp.MustCompile(`web UI on (http://[0-9.:]+/)`)
)

// startDaemon starts `immich-vault --config cfg daemon` with env and waits
// (waitFor) until it has said the address of its health endpoint and, with
// withUI, of its web UI (port 0: the daemon says which). The test fails if
// the daemon exits before; the daemon is killed when the test ends unless
// stop ended it.
func startDaemon(t *testing.T, cfg string, env []string, withUI bool) *daemonRun {
	t.Helper()
	d := &daemonRun{t: t, out: &daemonOutput{}, exited: make(chan error, 1)}
	d.cmd = exec.Command(binPath, "--config", cfg, "daemon")
	d.cmd.Env = env
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if !d.ended {
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
	what := "the health endpoint's address"
	if withUI {
		what = "the web UI's and health endpoint's addresses"
	}
	waitFor(t, what, func() (bool, string) {
		select {
		case err := <-d.exited:
			d.ended = true
			t.Fatalf("the daemon exited before it said %s: %v\n%s", what, err, d.out.String())
		default:
		}
		o := d.out.String()
		if m := daemonHealthRe.FindStringSubmatch(o); m != nil {
			d.health = m[1]
		}
		if m := daemonUIRe.FindStringSubmatch(o); m != nil {
			d.ui = m[1]
		}
		return d.health != "" && (!withUI || d.ui != ""), o
	}, d.out)
	return d
}

// stop sends SIGTERM and returns the daemon's exit error; the test fails
// if it does not exit within cmdTimeout.
func (d *daemonRun) stop() error {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.ended = true
		return err
	case <-time.After(cmdTimeout):
		d.t.Fatalf("the daemon did not exit within %v of SIGTERM:\n%s", cmdTimeout, d.out.String())
		return nil
	}
}
