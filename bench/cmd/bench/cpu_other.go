//go:build !unix

package main

import "time"

// selfCPU: no getrusage here; CPU times of the tree floors are 0 (and
// the CPU floor of a cold read is then not counted).
func selfCPU() time.Duration { return 0 }
