// Package gomaxprocs sets how many goroutines may run Go code at once for
// immich-vault and for the bench that measures the floors it is held to.
package gomaxprocs

import (
	"os"
	"runtime"
)

// Set lets one more goroutine run Go code at once than the runtime's
// default (the CPUs this process may use, its cgroup's limit included),
// unless the user set GOMAXPROCS.
//
// A goroutine blocked in a system call keeps its processor until the
// runtime's monitor takes it back, 20 µs to 10 ms later, and immich-vault's
// block all the time: cold reads of source and pack files, writes into the
// page cache, fsync. Meanwhile a core that has work queued stays idle. On
// 2 cores, in alternated pairs with the page cache dropped (BENCHMARKS.md,
// "One more processor"), 3 instead of 2 made a cold backup of corpus A 9 %
// faster, a restore of A 10 %, of corpus D 9-20 %, a cold backup and a
// no-change re-scan of 150,000 thumbnails 20 % and 11 %; 4 gained no more
// and cost CPU. Worker counts sized by GOMAXPROCS (blob workers, zstd
// encoders) grow by one with it. Setting it also ends the runtime's own
// updates of the default when a container's CPU limit changes during the
// run (Go 1.25): a run keeps the limit it started with, plus one.
//
// The bench (bench/cmd/bench) calls it too: it times the floors with its
// own goroutines, and with the default alone they came out slower than
// the work they bound (the 2026-12-06 19:11 UTC run measured a restore at
// 103 % of its write floor).
func Set() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}
