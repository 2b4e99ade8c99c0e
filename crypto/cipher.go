package crypto

import (
	"crypto/cipher"
	"errors"
	"fmt"

	"golang.org/x/sys/cpu"
)

// Cipher names the AEAD that seals a repository's data (blobs, pack
// headers and sealed files other than the config). Its value is the name
// recorded in the repository config.
//
// NB: the values are on-disk strings of format v1 and must never change.
type Cipher string

// The ciphers a repository can use. Both take a 32-byte key, a random
// 24-byte nonce and add a 16-byte tag, so every size in the format is the
// same whichever is chosen.
const (
	// XChaCha20Poly1305 is draft-irtf-cfrg-xchacha (x/crypto
	// chacha20poly1305.NewX), keyed with subkey(PurposeData). It is the
	// faster choice without AES hardware, and it also seals the config of
	// every repository and the master key in key files.
	XChaCha20Poly1305 Cipher = "xchacha20-poly1305"
	// XAES256GCM is XAES-256-GCM (https://c2sp.org/XAES-256-GCM, see
	// NewXAES256GCM), keyed with subkey(PurposeDataXAES). About twice as
	// fast as XChaCha20-Poly1305 where the CPU has AES and carry-less
	// multiplication instructions.
	XAES256GCM Cipher = "xaes-256-gcm"
)

// Ciphers lists every supported Cipher, the format-v1 original first.
var Ciphers = []Cipher{XChaCha20Poly1305, XAES256GCM}

// ErrUnknownCipher is returned (wrapped) by ParseCipher for a name it does
// not know.
var ErrUnknownCipher = errors.New("crypto: unknown cipher")

// ParseCipher returns the Cipher named s (exact, lower-case on-disk name).
func ParseCipher(s string) (Cipher, error) {
	for _, c := range Ciphers {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("%q (known: %q, %q): %w", truncate(s), XChaCha20Poly1305, XAES256GCM, ErrUnknownCipher)
}

// String returns the on-disk name.
func (c Cipher) String() string { return string(c) }

// purpose returns the HKDF info string of c's data subkey.
func (c Cipher) purpose() string {
	switch c {
	case XChaCha20Poly1305:
		return PurposeData
	case XAES256GCM:
		return PurposeDataXAES
	}
	panic(fmt.Sprintf("crypto: unknown cipher %q", string(c)))
}

// New returns the AEAD c keyed with key (KeySize bytes).
func (c Cipher) New(key []byte) (cipher.AEAD, error) {
	switch c {
	case XChaCha20Poly1305:
		return NewAEAD(key)
	case XAES256GCM:
		return NewXAES256GCM(key)
	}
	_, err := ParseCipher(string(c))
	return nil, err
}

// HasAESHardware reports whether this CPU has AES and carry-less
// multiplication instructions that Go's AES-GCM uses (amd64: AES-NI and
// PCLMULQDQ; arm64: AES and PMULL). Without them Go falls back to a
// constant-time software AES that is several times slower than ChaCha20.
func HasAESHardware() bool {
	return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ ||
		cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
}

// DefaultCipher is what `init --encryption auto` chooses on this machine:
// XAES256GCM with AES hardware (HasAESHardware), XChaCha20Poly1305 otherwise.
func DefaultCipher() Cipher {
	if HasAESHardware() {
		return XAES256GCM
	}
	return XChaCha20Poly1305
}
