//go:build darwin || freebsd

package ops

import (
	"os"
	"syscall"
	"time"
)

// ctimeOf is the status change time of an lstat result.
func ctimeOf(fi os.FileInfo) (time.Time, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(st.Ctimespec.Sec), int64(st.Ctimespec.Nsec)), true
}
