package fs

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/immich-vault/immich-vault/repo/data"
)

// An attribute the target's file system has no room for (setxattr's
// ENOSPC: on ext4 a file's attributes share one block) is reported as not
// restored, like one it does not support, not returned as an error: a
// restore must not take it for a full disk and stop.
func TestSetXAttrsNoSpaceIsRefused(t *testing.T) {
	n := &data.Node{XAttrs: []data.XAttr{{Name: "user.big", Value: make([]byte, 8000)}, {Name: "user.small", Value: []byte("x")}}}
	var reported []string
	var set []string
	err := setXAttrs(n, func(kind string, err error) { reported = append(reported, kind) }, func(name string, v []byte) error {
		if len(v) > 4000 {
			return unix.ENOSPC
		}
		set = append(set, name)
		return nil
	})
	if err != nil {
		t.Fatalf("setXAttrs returned %v: a restore would stop as if the disk were full", err)
	}
	if len(reported) != 1 || reported[0] != data.XAttrKind("user.big") || len(set) != 1 || set[0] != "user.small" {
		t.Errorf("reported %v, set %v: want user.big reported as not restored and user.small set", reported, set)
	}
	if IsNoSpace(err) {
		t.Error("IsNoSpace(nil) is true")
	}
}
