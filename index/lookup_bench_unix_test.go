//go:build unix

package index

import "syscall"

// rusage returns the process's user and system CPU time in nanoseconds
// and its count of minor page faults.
func rusage() (user, sys, minflt int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, 0
	}
	return ru.Utime.Nano(), ru.Stime.Nano(), int64(ru.Minflt)
}
