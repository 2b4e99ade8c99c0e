package pack

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"github.com/immich-vault/immich-vault/crypto"
)

// seal appends nonce(24) ‖ ciphertext ‖ tag(16) of plaintext to dst.
//
// TODO(crypto): this mirrors crypto.Seal's documented construction while the
// crypto package is being implemented; switch to crypto.Seal/Open once they land.
func seal(a cipher.AEAD, dst, plaintext, ad []byte) []byte {
	if a.NonceSize() != crypto.NonceSize || a.Overhead() != crypto.TagSize {
		panic("pack: AEAD is not XChaCha20-Poly1305")
	}
	var nonce [crypto.NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("pack: crypto/rand failed: " + err.Error())
	}
	dst = append(dst, nonce[:]...)
	return a.Seal(dst, nonce[:], plaintext, ad)
}

// open authenticates nonce ‖ ciphertext ‖ tag and appends the plaintext to dst.
func open(a cipher.AEAD, dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < crypto.Overhead || a.NonceSize() != crypto.NonceSize {
		return dst, fmt.Errorf("sealed length %d: %w", len(sealed), crypto.ErrAuth)
	}
	out, err := a.Open(dst, sealed[:crypto.NonceSize], sealed[crypto.NonceSize:], ad)
	if err != nil {
		return dst, crypto.ErrAuth
	}
	return out, nil
}
