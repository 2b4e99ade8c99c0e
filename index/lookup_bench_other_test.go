//go:build !unix

package index

// rusage is not measured here (the benchmarks report zeros).
func rusage() (user, sys, minflt int64) { return 0, 0, 0 }
