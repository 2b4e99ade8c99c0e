package gomaxprocs

import (
	"runtime"
	"testing"
)

// TestSet: one processor more than the runtime's default, unless the
// user chose GOMAXPROCS.
func TestSet(t *testing.T) {
	def := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(def) })

	t.Setenv("GOMAXPROCS", "")
	Set()
	if got := runtime.GOMAXPROCS(0); got != def+1 {
		t.Errorf("GOMAXPROCS unset: %d processors, want %d (the default %d plus one)", got, def+1, def)
	}

	runtime.GOMAXPROCS(def)
	t.Setenv("GOMAXPROCS", "1")
	Set()
	if got := runtime.GOMAXPROCS(0); got != def {
		t.Errorf("GOMAXPROCS=1 in the environment: Set changed the processors to %d, want them left at %d", got, def)
	}
}
