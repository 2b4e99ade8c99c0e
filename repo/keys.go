package repo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/immich-vault/immich-vault/repo/backend"
)

// KeyInfo describes one key file.
type KeyInfo struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username"`
	Current  bool      `json:"current"`
}

// Keys lists the key files, oldest first.
func (r *Repository) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := r.be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		b, err := loadBounded(ctx, r.be, backend.Handle{Type: backend.KeyFile, Name: fi.Name})
		if err != nil {
			return err
		}
		kf, err := decodeKeyFile(b)
		if err != nil {
			return fmt.Errorf("key %s: %w", shortName(fi.Name), err)
		}
		out = append(out, KeyInfo{ID: fi.Name, Created: kf.Created, Hostname: kf.Hostname, Username: kf.Username, Current: fi.Name == r.keyName})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// AddKey adds a key file for password (same master key: no data is re-encrypted).
func (r *Repository) AddKey(ctx context.Context, password []byte) (string, error) {
	return r.saveKeyFile(ctx, r.key, password, r.opts.kdf())
}

// RemoveKey removes the key whose ID starts with prefix; it refuses the
// key in use and ambiguous prefixes.
func (r *Repository) RemoveKey(ctx context.Context, prefix string) error {
	keys, err := r.Keys(ctx)
	if err != nil {
		return err
	}
	var match []KeyInfo
	for _, k := range keys {
		if prefix != "" && strings.HasPrefix(k.ID, prefix) {
			match = append(match, k)
		}
	}
	switch {
	case len(match) == 0:
		return fmt.Errorf("no key %q", prefix)
	case len(match) > 1:
		return fmt.Errorf("key prefix %q is ambiguous", prefix)
	case match[0].Current:
		return ErrKeyInUse
	}
	return r.be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: match[0].ID})
}

// ChangePassword adds a key for newPassword and then removes the current
// key (a crash in between leaves both passwords valid, never none).
func (r *Repository) ChangePassword(ctx context.Context, newPassword []byte) (string, error) {
	name, err := r.AddKey(ctx, newPassword)
	if err != nil {
		return "", err
	}
	old := r.keyName
	r.keyName = name
	if err := r.be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: old}); err != nil {
		return name, fmt.Errorf("remove old key %s: %w", shortName(old), err)
	}
	return name, nil
}
