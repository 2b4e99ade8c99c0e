//go:build linux

package repo

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// currentLockIdentity reads what proves that two processes share a kernel
// and a PID namespace (docs/FORMAT.md §10.1): the kernel's boot ID (random
// per boot, the same in every container of that kernel), the inode of this
// process's PID namespace (unique among the namespaces alive on that
// kernel) and the machine ID (informative; compared too). A field that
// cannot be read is left empty, and a lock with an empty boot ID or
// namespace is judged by its age only.
func currentLockIdentity() LockIdentity {
	var id LockIdentity
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		id.BootID = strings.TrimSpace(string(b))
	}
	// /proc/self/ns/pid is the namespace this process is a member of,
	// whichever namespace /proc was mounted from; when this process is not
	// visible in that /proc, the link cannot be read and the field stays
	// empty.
	if l, err := os.Readlink("/proc/self/ns/pid"); err == nil && strings.HasPrefix(l, "pid:[") {
		id.PIDNamespace = l
	}
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		id.MachineID = strings.TrimSpace(string(b))
	}
	return id
}

// processAlive reports whether pid exists in this process's PID namespace
// (EPERM: it exists, owned by someone else).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
