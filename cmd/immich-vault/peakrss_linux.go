package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// writePeakRSS writes this process's peak resident set size in bytes
// (VmHWM of /proc/self/status) to path: a test hook (the environment variable
// IMMICH_VAULT_TEST_PEAK_RSS_FILE). The parent's rusage cannot tell it: a
// process started with vfork+exec, as Go's os/exec does, inherits the
// parent's high-water mark in ru_maxrss at exec, so a child of a large test
// binary reports the test binary's size. VmHWM belongs to the process's own
// address space, created at exec.
func writePeakRSS(path string) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 3 && string(f[0]) == "VmHWM:" && string(f[2]) == "kB" {
			if kb, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil {
				_ = os.WriteFile(path, []byte(strconv.FormatInt(kb<<10, 10)), 0o600)
			}
			return
		}
	}
}
