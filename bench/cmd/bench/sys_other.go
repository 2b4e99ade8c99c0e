//go:build !unix

package main

import "os"

// maxRSS: no getrusage here; the peak memory is reported as 0.
func maxRSS(ps *os.ProcessState) int64 { return 0 }

// syncDisks: no sync(2) here; dropCaches fails anyway (no /proc).
func syncDisks() {}
