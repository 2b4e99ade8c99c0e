package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestIsNoSpace(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{syscall.ENOSPC, true},
		{&fs.PathError{Op: "write", Path: "/t/f", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("write /t/f: %w", syscall.EDQUOT), true},
		{syscall.EIO, false},
		{syscall.EROFS, false},
		{errors.New("no space left on device"), false}, // text is not the error
	} {
		if got := IsNoSpace(c.err); got != c.want {
			t.Errorf("IsNoSpace(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
