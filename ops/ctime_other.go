//go:build !linux && !darwin && !freebsd

package ops

import (
	"os"
	"time"
)

// ctimeOf: no status change time here (Windows; the other Unixes are not
// built, docs/PLATFORMS.md): only modification times are compared.
func ctimeOf(os.FileInfo) (time.Time, bool) { return time.Time{}, false }
