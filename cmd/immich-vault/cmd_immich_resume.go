package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/immich"
)

func newImmichResumeCmd() *cobra.Command {
	var (
		stateDir string
		watchdog bool
		key      string
	)
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Undo a quiesce (stopped server, maintenance mode) left by an immich backup that was killed",
		Long: `Before it stops immich_server or enters maintenance mode, "immich backup"
writes a record to the state directory (IMMICH_VAULT_STATE_DIR, else
$XDG_STATE_HOME/immich-vault, else ~/.local/state/immich-vault) and removes it
once Immich runs normally again. A backup that was killed (SIGKILL, power
loss, out-of-memory killer) leaves the record behind. "immich resume" undoes
every such record: docker start, or immich-admin disable-maintenance-mode /
POST /api/admin/maintenance {"action":"end"} with the maintenance token, then
waits until the normal server answers. The next "immich backup" does the
same before it starts. A record whose backup is still running is left alone.

Exit code 0 when nothing is left quiesced, 1 otherwise (the message says how
to get out by hand).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if watchdog {
				return runQuiesceWatchdog(stateDir, key)
			}
			n, err := recoverQuiesces(cmd.Context(), stateDir, true)
			if err != nil {
				return err
			}
			if n == 0 {
				gopts.printf("nothing to resume: no quiesce record in %s\n", stateDir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state-dir", "", "`directory` of quiesce records (default IMMICH_VAULT_STATE_DIR, $XDG_STATE_HOME/immich-vault or ~/.local/state/immich-vault)")
	f.BoolVar(&watchdog, "watchdog", false, "internal: wait for EOF on stdin, then undo the quiesce of record --key if its backup died")
	f.StringVar(&key, "key", "", "internal: record key for --watchdog")
	_ = f.MarkHidden("watchdog")
	_ = f.MarkHidden("key")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if stateDir == "" {
			d, err := immich.StateDir()
			if err != nil {
				return err
			}
			stateDir = d
		}
		return nil
	}
	return cmd
}

// recoverQuiesces undoes every quiesce record in dir whose run is gone and
// returns how many it found. busyIsError: a record held by a live run is an
// error (immich resume) rather than a note (immich backup).
func recoverQuiesces(ctx context.Context, dir string, busyIsError bool) (int, error) {
	keys, err := immich.ListJournals(dir)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, k := range keys {
		j, err := immich.OpenJournal(dir, k)
		if errors.Is(err, immich.ErrQuiesceBusy) {
			if busyIsError {
				errs = append(errs, fmt.Errorf("%w: it is undone when that run ends", err))
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rec, err := j.Read()
		if err == nil && rec != nil {
			n++
			fmt.Fprintf(gopts.stderr, "A backup (pid %d on %s, started %s) left Immich quiesced (%s through %s): undoing it.\n",
				rec.PID, rec.Host, rec.Started.Local().Format(time.RFC3339), rec.Mode, rec.Method)
			_, err = immich.RecoverQuiesce(ctx, j, &immich.Quiescer{Log: quiesceLog})
			if err == nil {
				fmt.Fprintf(gopts.stderr, "Immich runs normally again (%s undone).\n", rec.Mode)
			}
		}
		j.Close()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func quiesceLog(format string, args ...any) {
	if gopts.verbose > 0 {
		fmt.Fprintf(gopts.stderr, format+"\n", args...)
	}
}

// watchdog is a child process that undoes the quiesce if this process dies
// without doing it (a panic in another goroutine, SIGKILL): it waits for
// EOF on its stdin, which this process holds open; "done" before EOF means
// this process took care of the undo itself.
type watchdog struct {
	w   io.WriteCloser
	cmd *exec.Cmd
}

func startWatchdog(dir, key string) (*watchdog, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "immich", "resume", "--watchdog", "--state-dir", dir, "--key", key)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group: a Ctrl-C on the terminal must not end it.
	cmd.SysProcAttr = ownProcessGroup()
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the quiesce watchdog: %w", err)
	}
	return &watchdog{w: w, cmd: cmd}, nil
}

// done tells the watchdog that this process handled the undo, and lets it go.
func (wd *watchdog) done() {
	if wd == nil {
		return
	}
	io.WriteString(wd.w, "done\n")
	wd.w.Close()
	go wd.cmd.Wait() // reap it when it exits; never block the exit on it
}

func runQuiesceWatchdog(dir, key string) error {
	if key == "" {
		return errors.New("--watchdog needs --key")
	}
	br := bufio.NewReader(os.Stdin)
	line, _ := br.ReadString('\n')
	if strings.TrimSpace(line) == "done" {
		return nil
	}
	io.Copy(io.Discard, br)
	// EOF without "done": the backup is gone, or closing. Take its lock as
	// soon as the kernel releases it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j, err := immich.OpenJournal(dir, key)
		if errors.Is(err, immich.ErrQuiesceBusy) {
			if time.Now().After(deadline) {
				return nil // a live run holds it: that run owns the record now
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "immich-vault watchdog: %v\n", err)
			return err
		}
		defer j.Close()
		rec, err := j.Read()
		if err != nil || rec == nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "immich-vault watchdog: the backup (pid %d) ended without undoing the quiesce (%s); undoing it now\n", rec.PID, rec.Mode)
		if _, err := immich.RecoverQuiesce(context.Background(), j, &immich.Quiescer{}); err != nil {
			fmt.Fprintf(os.Stderr, "immich-vault watchdog: %v\n", err)
			return err
		}
		fmt.Fprintf(os.Stderr, "immich-vault watchdog: Immich runs normally again\n")
		return nil
	}
}
