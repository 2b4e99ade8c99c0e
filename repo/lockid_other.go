//go:build !linux

package repo

// currentLockIdentity: outside Linux there is no portable proof that two
// processes share a kernel and a PID namespace (a host name proves
// nothing), so locks are judged by their age only (docs/FORMAT.md §10.1).
func currentLockIdentity() LockIdentity { return LockIdentity{} }

// processAlive is never consulted without an identity; it answers alive,
// the safe answer.
func processAlive(pid int) bool { return true }
