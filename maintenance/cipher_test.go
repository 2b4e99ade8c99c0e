package maintenance_test

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"testing"

	"github.com/immich-vault/immich-vault/archiver"
	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/repotest"
)

// initCipher initialises a repository using cipher c in a fresh in-memory
// backend and returns it with the backend.
func initCipher(t *testing.T, c crypto.Cipher, shareWith *repo.Repository) (*repo.Repository, backend.Backend) {
	t.Helper()
	be := mem.New()
	opts := repotest.Options(t)
	opts.Encryption = c
	if shareWith != nil {
		opts.ShareKeyWith = shareWith
		opts.ChunkerProfiles = shareWith.Config().Chunker.Profiles
		opts.PackSize = shareWith.Config().PackSize
	}
	return repotest.InitIn(t, be, opts), be
}

// subkeyAEAD builds, from the master key and the format document alone,
// the AEAD of cipher c under the HKDF subkey purpose.
func subkeyAEAD(t *testing.T, r *repo.Repository, c crypto.Cipher, purpose string) cipher.AEAD {
	t.Helper()
	a, err := c.New(crypto.DeriveKey(r.Key().Master(), purpose, crypto.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCipherRepositories backs up into one repository per cipher, reopens
// it, checks every byte and restores bit-identical; it then verifies from
// the stored bytes that packs are sealed with the config's cipher under its
// own subkey, and the config with XChaCha20-Poly1305 under the data subkey
// (FORMAT §4, §7.4).
func TestCipherRepositories(t *testing.T) {
	ctx := context.Background()
	dir := copyCorpus(t)
	want := repotest.ReadTree(t, dir)
	for _, c := range crypto.Ciphers {
		t.Run(string(c), func(t *testing.T) {
			r, be := initCipher(t, c, nil)
			if got := r.Config().Encryption; got != string(c) {
				t.Fatalf("config encryption %q, want %q", got, c)
			}
			repotest.Backup(t, r, archiver.BackupOptions{Paths: []string{dir}})

			r2 := repotest.Reopen(t, be, repotest.Options(t))
			if r2.Config().Encryption != string(c) || r2.Key().Cipher() != c {
				t.Fatalf("reopened: config %q, key cipher %q", r2.Config().Encryption, r2.Key().Cipher())
			}
			checkOK(t, r2)
			restoreCompare(t, r2, want)

			purpose := crypto.PurposeData
			if c == crypto.XAES256GCM {
				purpose = crypto.PurposeDataXAES
			}
			data := subkeyAEAD(t, r2, c, purpose)
			other := crypto.XAES256GCM
			if c == crypto.XAES256GCM {
				other = crypto.XChaCha20Poly1305
			}
			var packs int
			err := be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
				b, err := backend.LoadAll(ctx, be, backend.Handle{Type: backend.PackFile, Name: fi.Name})
				if err != nil {
					return err
				}
				entries, err := pack.ReadHeader(data, bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Errorf("pack %s: header does not open with %s: %v", fi.Name[:8], c, err)
					return nil
				}
				for _, o := range []string{crypto.PurposeData, crypto.PurposeDataXAES} {
					if _, err := pack.ReadHeader(subkeyAEAD(t, r2, other, o), bytes.NewReader(b), int64(len(b))); err == nil {
						t.Errorf("pack %s: header also opens with %s under %q", fi.Name[:8], other, o)
					}
				}
				e := entries[0]
				if _, err := pack.OpenBlob(data, nil, e, b[e.Offset:e.Offset+e.Length]); err != nil {
					t.Errorf("pack %s: blob does not open with %s: %v", fi.Name[:8], c, err)
				}
				packs++
				return nil
			})
			if err != nil || packs == 0 {
				t.Fatalf("list packs: %v (%d packs)", err, packs)
			}
			cfg, err := backend.LoadAll(ctx, be, backend.Handle{Type: backend.ConfigFile, Name: "config"})
			if err != nil {
				t.Fatal(err)
			}
			env, err := crypto.Open(subkeyAEAD(t, r2, crypto.XChaCha20Poly1305, crypto.PurposeData), nil, cfg, []byte("ivf1config"))
			if err != nil || len(env) == 0 || env[0] != 0 {
				t.Fatalf("config does not open with xchacha20-poly1305 under the data subkey: %v", err)
			}
			var parsed repo.Config
			if err := json.Unmarshal(env[1:], &parsed); err != nil || parsed.Encryption != string(c) {
				t.Fatalf("config plaintext: %v, encryption %q", err, parsed.Encryption)
			}
		})
	}
}

// TestCopyBetweenCiphers copies snapshots between repositories that use
// different ciphers, with different keys (blobs re-hashed) and with shared
// key material (init --copy-chunker-params-from: same blob IDs, every blob
// still re-sealed with the destination's cipher).
func TestCopyBetweenCiphers(t *testing.T) {
	dir := copyCorpus(t)
	want := repotest.ReadTree(t, dir)
	for _, tc := range []struct {
		name     string
		src, dst crypto.Cipher
		shared   bool
	}{
		{"xchacha to xaes", crypto.XChaCha20Poly1305, crypto.XAES256GCM, false},
		{"xaes to xchacha", crypto.XAES256GCM, crypto.XChaCha20Poly1305, false},
		{"xchacha to xaes shared key", crypto.XChaCha20Poly1305, crypto.XAES256GCM, true},
		{"xaes to xchacha shared key", crypto.XAES256GCM, crypto.XChaCha20Poly1305, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := initCipher(t, tc.src, nil)
			repotest.Backup(t, src, archiver.BackupOptions{Paths: []string{dir}})
			var share *repo.Repository
			if tc.shared {
				share = src
			}
			dst, dstBe := initCipher(t, tc.dst, share)
			if maintenance.SharesKeyWith(src, dst) != tc.shared {
				t.Fatalf("SharesKeyWith = %v", !tc.shared)
			}
			st := copyAll(t, dst, src)
			if st.SnapshotsCopied != 1 || st.Rehashed == tc.shared {
				t.Fatalf("copy stats %+v", st)
			}
			re := repotest.Reopen(t, dstBe, repotest.Options(t))
			if re.Key().Cipher() != tc.dst {
				t.Fatalf("destination cipher %q", re.Key().Cipher())
			}
			checkOK(t, re)
			restoreCompare(t, re, want)
			// And back into a third repository with the source's cipher.
			back, _ := initCipher(t, tc.src, share)
			if st := copyAll(t, back, re); st.SnapshotsCopied != 1 {
				t.Fatalf("copy back: %+v", st)
			}
			checkOK(t, back)
			restoreCompare(t, back, want)
		})
	}
}

func TestInitUnknownCipher(t *testing.T) {
	opts := repotest.Options(t)
	opts.Encryption = "aes-256-gcm"
	r, err := repo.Init(context.Background(), mem.New(), repotest.Password, opts)
	if err == nil {
		r.Close()
		t.Fatal("Init accepted an unknown cipher")
	}
	if !errors.Is(err, crypto.ErrUnknownCipher) {
		t.Fatalf("Init: %v", err)
	}
}

// TestOpenUnknownCipher stores a correctly sealed config that names an
// unknown cipher: Open refuses it as an unsupported format, naming it.
func TestOpenUnknownCipher(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"aes-256-gcm", "XAES-256-GCM", ""} {
		r, be := initCipher(t, crypto.XAES256GCM, nil)
		cfg := r.Config()
		cfg.Encryption = name
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a := subkeyAEAD(t, r, crypto.XChaCha20Poly1305, crypto.PurposeData)
		sealed := crypto.Seal(a, nil, append([]byte{0}, b...), []byte("ivf1config"))
		h := backend.Handle{Type: backend.ConfigFile, Name: "config"}
		if err := be.Remove(ctx, h); err != nil {
			t.Fatal(err)
		}
		if err := be.Save(ctx, h, backend.NewByteReader(sealed)); err != nil {
			t.Fatal(err)
		}
		_, err = repo.Open(ctx, be, repotest.Password, repotest.Options(t))
		if !errors.Is(err, repo.ErrUnsupportedVersion) || !bytes.Contains([]byte(err.Error()), []byte("encryption")) {
			t.Errorf("encryption %q: Open = %v, want an unsupported encryption algorithm", name, err)
		}
	}
}
