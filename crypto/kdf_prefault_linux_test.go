//go:build !race

// Under the race detector, every write of prefault also faults in shadow
// memory, so the count below is not Argon2's alone.

package crypto

import (
	"os"
	"runtime/debug"
	"syscall"
	"testing"
)

// minorFaults is the process's count of minor page faults so far.
func minorFaults(t *testing.T) int64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return int64(ru.Minflt) // int32 on 32-bit platforms
}

// TestDeriveKEKFaultsEachPageOnce: Argon2's memory must be faulted in once
// per page. Without prefault, x/crypto's first pass reads every page of a
// fresh allocation before writing it, two faults per page (the zero page,
// then a copy on write with a TLB flush on every core); see prefault.
func TestDeriveKEKFaultsEachPageOnce(t *testing.T) {
	p := KDFParams{Time: 1, MemoryKiB: 64 * 1024, Threads: 2}
	pages := int64(p.MemoryKiB) << 10 / int64(os.Getpagesize())
	salt := make([]byte, MinSaltSize)
	var best int64 = -1
	// The fewest of a few runs: a collection or another test's goroutine
	// may fault pages of its own meanwhile, never fewer.
	for range 3 {
		before := minorFaults(t)
		if _, err := DeriveKEK([]byte("password"), salt, p); err != nil {
			t.Fatal(err)
		}
		if n := minorFaults(t) - before; best < 0 || n < best {
			best = n
		}
		debug.FreeOSMemory() // as repo does after every derivation
	}
	t.Logf("%d minor faults for %d pages of Argon2 memory", best, pages)
	if best > pages*3/2 {
		t.Fatalf("DeriveKEK made %d minor page faults for %d pages of memory (more than 1.5 per page): its memory was read before it was written", best, pages)
	}
}
