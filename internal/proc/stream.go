package proc

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Stream is a started command whose standard output the caller reads: a
// backup stream (pg_dump, pg_dumpall, an Immich backup's extra command,
// `backup --stdin-from-command`). It is the one way the program runs a
// command as a stream: Wait reports a failure with the command's name, its
// exit status and the tail of its standard error; Kill ends it when the
// caller gives up before Wait.
type Stream struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr TailBuffer
	what   string
}

// Start starts cmd (made with Command) with its standard output piped to
// the returned Stream. The last 8 KiB of its standard error are kept for
// Wait's error and, when echo is not nil, also copied there as they come.
// what names the command in errors.
func Start(cmd *exec.Cmd, what string, echo io.Writer) (*Stream, error) {
	s := &Stream{cmd: cmd, what: what}
	cmd.Stderr = &s.stderr
	if echo != nil {
		cmd.Stderr = io.MultiWriter(&s.stderr, echo)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	s.ReadCloser = out
	return s, nil
}

// Wait waits for the command; its error names the command, the exit
// status and the standard error.
func (s *Stream) Wait() error {
	if err := s.cmd.Wait(); err != nil {
		return CmdError(s.what, err, &s.stderr)
	}
	return nil
}

// Kill stops the command if it is still running (safe after Wait).
func (s *Stream) Kill() {
	if s.cmd.ProcessState == nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// TailBuffer keeps the last 8 KiB written to it (a command's standard
// error, for messages).
type TailBuffer struct{ b []byte }

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = append(t.b[:0], t.b[len(t.b)-8192:]...)
	}
	return len(p), nil
}

func (t *TailBuffer) String() string { return strings.TrimSpace(string(t.b)) }

// CmdError describes a failed command with its standard error.
func CmdError(what string, err error, stderr *TailBuffer) error {
	if s := stderr.String(); s != "" {
		return fmt.Errorf("%s: %w: %s", what, err, s)
	}
	return fmt.Errorf("%s: %w", what, err)
}
