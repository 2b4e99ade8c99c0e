package repo

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/immich-vault/immich-vault/repo/data"
)

// Decoding errors carry both ErrCorrupt (what callers branch on) and the
// decoder's own error (what went wrong, e.g. where the JSON broke); the
// cause used to be formatted with %v and lost to errors.As.
func TestDecodeErrorsKeepCause(t *testing.T) {
	for name, decode := range map[string]func([]byte) error{
		"snapshot": func(b []byte) error { _, err := DecodeSnapshot(b); return err },
		"marker":   func(b []byte) error { _, err := decodeMarker(b); return err },
		"tree":     func(b []byte) error { _, err := data.DecodeTree(b); return err },
	} {
		err := decode([]byte(`{"nodes": x}`))
		var se *json.SyntaxError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &se) {
			t.Errorf("%s: %v: want ErrCorrupt and the *json.SyntaxError", name, err)
		}
	}
}
