//go:build linux

package index

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// trimMappings releases this process's pages of Badger table files
// (*.sst) mapped from dir. Badger reads (and writes) its tables through
// shared memory mappings; on a large repository those pages would make the
// resident size grow with the index. For a shared file mapping
// MADV_DONTNEED only drops the page-table entries: the data stays in the
// page cache (dirty pages are still written back), and the next access
// maps it again with a minor fault. It returns the bytes released.
func trimMappings(dir string) int64 {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var released int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasSuffix(line, []byte(".sst")) {
			continue
		}
		fields := strings.Fields(string(line))
		// start-end perms offset dev inode path
		if len(fields) < 6 || !strings.HasPrefix(fields[5], dir) || !strings.Contains(fields[1], "s") {
			continue
		}
		se := strings.SplitN(fields[0], "-", 2)
		if len(se) != 2 {
			continue
		}
		start, err1 := strconv.ParseUint(se[0], 16, 64)
		end, err2 := strconv.ParseUint(se[1], 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno == 0 {
			released += int64(end - start)
		}
	}
	return released
}
