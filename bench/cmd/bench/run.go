package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// measurement is one timed child process.
type measurement struct {
	Wall   time.Duration
	CPU    time.Duration // user + sys of the child and its waited-for children
	MaxRSS int64         // bytes (ru_maxrss of the child)
	// Peaks of the anonymous and file-backed (mmap'd files) parts of the
	// child's RSS, sampled every 20 ms from /proc (shorter peaks are missed).
	MaxAnon, MaxFile int64
}

// command describes a child process to run.
type command struct {
	Args  []string
	Env   []string // added to the driver's environment
	Dir   string
	Stdin string // file fed to standard input, if any
}

// wrapFlag makes the driver binary act as a tiny wrapper that runs one
// command and reports its rusage on file descriptor 3. It exists because
// ru_maxrss of a child forked straight from the driver starts at the
// driver's own peak RSS (Linux keeps the old address space's high-water
// mark across exec, and Go forks with CLONE_VM), so a 300 MiB driver would
// hide every smaller child. The wrapper's own peak (a few MiB) is then the
// floor of every reported peak RSS.
const wrapFlag = "-rusage-wrapper"

type wrapResult struct {
	WallNs, CPUNs, MaxRSS int64
	MaxAnon, MaxFile      int64 // sampled peaks of RssAnon and RssFile, bytes
	Exit                  int
	Err                   string
}

// timeoutEnv, when set in a command's Env (a Go duration), makes the
// wrapper kill the command after that long.
const timeoutEnv = "BENCH_WRAP_TIMEOUT"

// wrapMain is the wrapper: run os.Args[2:], report, exit with its status.
func wrapMain() {
	out := os.NewFile(3, "rusage")
	ctx := context.Background()
	if d, err := time.ParseDuration(os.Getenv(timeoutEnv)); err == nil && d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	var res wrapResult
	err := cmd.Start()
	if err == nil {
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() { // sample the anonymous / file-backed split of the RSS
			defer close(sampled)
			path := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				anon, file := rssSplit(path)
				res.MaxAnon, res.MaxFile = max(res.MaxAnon, anon), max(res.MaxFile, file)
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
		}()
		err = cmd.Wait()
		close(done)
		<-sampled
	}
	res.WallNs = int64(time.Since(start))
	if cmd.ProcessState != nil {
		res.Exit = cmd.ProcessState.ExitCode()
		res.CPUNs = int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime())
		res.MaxRSS = maxRSS(cmd.ProcessState)
	}
	if err != nil {
		res.Err = err.Error()
		if ctx.Err() != nil {
			res.Err = fmt.Sprintf("killed after %s (%s): %v", os.Getenv(timeoutEnv), timeoutEnv, err)
		}
	}
	json.NewEncoder(out).Encode(res)
	out.Close()
	if res.Exit == 0 && err != nil {
		res.Exit = 1
	}
	os.Exit(res.Exit)
}

// rssSplit reads RssAnon and RssFile (bytes) from a /proc/PID/status file;
// zeros when the process is gone.
func rssSplit(path string) (anon, file int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		var v int64
		fmt.Sscan(f[1], &v)
		switch f[0] {
		case "RssAnon:":
			anon = v << 10
		case "RssFile:":
			file = v << 10
		}
	}
	return anon, file
}

// runTimeout, when positive, is the longest a command may run before the
// wrapper kills it (the S3 scenarios set it, so one stuck tool does not
// take the whole run's time).
var runTimeout time.Duration

// run executes c through the rusage wrapper, measures it and returns its
// combined output (the error carries the output's tail).
func run(c command) (measurement, []byte, error) {
	var m measurement
	if runTimeout > 0 {
		c.Env = append(append([]string{}, c.Env...), timeoutEnv+"="+runTimeout.String())
	}
	self, err := os.Executable()
	if err != nil {
		return m, nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self, append([]string{wrapFlag}, c.Args...)...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if c.Stdin != "" {
		f, err := os.Open(c.Stdin)
		if err != nil {
			return m, nil, fmt.Errorf("open stdin file: %w", err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return m, nil, err
	}
	cmd.ExtraFiles = []*os.File{pw}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return m, nil, fmt.Errorf("start %s: %w", c.Args[0], err)
	}
	pw.Close()
	var res wrapResult
	derr := json.NewDecoder(pr).Decode(&res)
	pr.Close()
	err = cmd.Wait()
	m = measurement{Wall: time.Duration(res.WallNs), CPU: time.Duration(res.CPUNs), MaxRSS: res.MaxRSS, MaxAnon: res.MaxAnon, MaxFile: res.MaxFile}
	if err == nil && derr != nil {
		err = fmt.Errorf("read rusage from wrapper: %w", derr)
	}
	if err != nil {
		return m, out.Bytes(), fmt.Errorf("%s: %w %s\n%s", strings.Join(c.Args, " "), err, res.Err, tail(out.String(), 2000))
	}
	return m, out.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// dropCaches flushes dirty pages and drops the page cache (root only); a
// variable so that tests of the scenarios' bookkeeping leave the shared
// machine's cache alone.
var dropCaches = func() bool {
	syncDisks()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0) == nil
}

// treeBytes sums the sizes of the regular files under dir.
func treeBytes(dir string) (int64, int, error) {
	var n int64
	var files int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
			files++
		}
		return nil
	})
	return n, files, err
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
