package pack

import (
	"crypto/cipher"

	"github.com/immich-vault/immich-vault/crypto"
)

// seal appends nonce(24) ‖ ciphertext ‖ tag(16) of plaintext to dst (crypto.Seal).
func seal(a cipher.AEAD, dst, plaintext, ad []byte) []byte {
	return crypto.Seal(a, dst, plaintext, ad)
}

// open authenticates nonce ‖ ciphertext ‖ tag and appends the plaintext to
// dst (crypto.Open); failures wrap crypto.ErrAuth.
func open(a cipher.AEAD, dst, sealed, ad []byte) ([]byte, error) {
	return crypto.Open(a, dst, sealed, ad)
}
