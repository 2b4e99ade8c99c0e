package ops

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Magic numbers (statfs f_type, linux/magic.h) of the file systems whose
// used blocks hold every byte of their files' data: no transparent
// compression. Btrfs, ZFS, bcachefs, F2FS, NFS, overlay and FUSE may
// compress (or report another file system's usage) and are not trusted.
// Shared extents (reflinks on XFS) count once but hold identical data,
// which the backup stores once too.
var boundFS = map[int64]bool{
	0xEF53:     true, // ext2, ext3, ext4
	0x58465342: true, // xfs
	0x01021994: true, // tmpfs
}

// noSourceBoundEnv makes SourceBound give no bound (tests of the walk's
// refusal on a machine whose disks would let the bound pass).
const noSourceBoundEnv = "IMMICH_VAULT_TEST_NO_SOURCE_BOUND"

// SourceBound returns an upper bound of the data a backup of roots can
// read without walking them: the used bytes of the file systems holding
// roots and of every file system mounted below them (each counted once).
// ok is false when a bound cannot be given that way (a file system that
// may compress, or one that cannot be queried): then only counting the
// changed files can tell (the backup's walk ahead, or ChangedBytes). A backup stores at most what it reads (before
// sealing overhead), so a repository with more free space than the bound
// needs no walk to know the backup fits.
func SourceBound(roots []string) (bound uint64, ok bool) {
	if os.Getenv(noSourceBoundEnv) != "" {
		return 0, false
	}
	seen := map[uint64]bool{} // st_dev of the file systems counted
	add := func(p string) bool {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return false
		}
		if seen[uint64(st.Dev)] {
			return true
		}
		var s syscall.Statfs_t
		if err := syscall.Statfs(p, &s); err != nil || !boundFS[int64(s.Type)] {
			return false
		}
		seen[uint64(st.Dev)] = true
		bound += (s.Blocks - s.Bfree) * uint64(s.Bsize)
		return true
	}
	var clean []string
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return 0, false
		}
		if _, err := os.Lstat(abs); err != nil {
			continue // nothing to back up there (the backup reports it)
		}
		if !add(abs) {
			return 0, false
		}
		clean = append(clean, filepath.Clean(abs))
	}
	mounts, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return 0, false
	}
	defer mounts.Close()
	sc := bufio.NewScanner(mounts)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			return 0, false
		}
		mp := unescapeMount(f[4])
		for _, r := range clean {
			if strings.HasPrefix(mp, r+"/") || (r == "/" && mp != "/") {
				if !add(mp) {
					return 0, false
				}
				break
			}
		}
	}
	if sc.Err() != nil {
		return 0, false
	}
	return bound, true
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
