package fs

import (
	"errors"
	"syscall"
)

// Windows' "disk full" system error codes (winerror.h): the os package
// returns them as syscall.Errno, which is never syscall.ENOSPC.
const (
	errorHandleDiskFull syscall.Errno = 39   // ERROR_HANDLE_DISK_FULL
	errorDiskFull       syscall.Errno = 112  // ERROR_DISK_FULL
	errorDiskQuota      syscall.Errno = 1295 // ERROR_DISK_QUOTA_EXCEEDED
)

// isFull reports whether err is one of Windows' "disk full" codes.
func isFull(err error) bool {
	return errors.Is(err, errorDiskFull) || errors.Is(err, errorHandleDiskFull) || errors.Is(err, errorDiskQuota)
}

// errorWriteProtect: ERROR_WRITE_PROTECT, "the media is write protected".
const errorWriteProtect syscall.Errno = 19

func isWriteProtected(err error) bool { return errors.Is(err, errorWriteProtect) }
