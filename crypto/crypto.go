// Package crypto holds immich-vault's cryptographic building blocks: the
// 32-byte ID type, the AEAD construction (XChaCha20-Poly1305 with random
// 24-byte nonces), HKDF-SHA256 subkey derivation, keyed BLAKE3 blob IDs,
// the key-derived chunker gear table and Argon2id password stretching.
//
// It depends only on the standard library, x/crypto and zeebo/blake3.
package crypto

import (
	"crypto/cipher"
	"errors"
)

// IDSize is the size of every identifier in a repository.
const IDSize = 32

// KeySize is the size of the master key and of every derived subkey.
const KeySize = 32

// NonceSize is the XChaCha20-Poly1305 nonce size.
const NonceSize = 24

// TagSize is the Poly1305 tag size.
const TagSize = 16

// Overhead is the number of bytes Seal adds to a plaintext (nonce + tag).
const Overhead = NonceSize + TagSize

// ErrAuth is returned by Open when the ciphertext, nonce or associated data
// does not authenticate (wrong key, tampering, truncation).
var ErrAuth = errors.New("crypto: authentication failed")

// ID identifies a blob (keyed BLAKE3 of its plaintext) or a repository file
// (unkeyed BLAKE3 of its stored bytes).
type ID [IDSize]byte

// String returns the lower-case hex form (64 characters).
func (id ID) String() string { panic("TODO") }

// Short returns the first 8 hex characters.
func (id ID) Short() string { panic("TODO") }

// IsNull reports whether id is all zeros.
func (id ID) IsNull() bool { return id == ID{} }

// ParseID parses a 64-character hex string.
func ParseID(s string) (ID, error) { panic("TODO") }

// Hash returns the unkeyed BLAKE3-256 of data. It names repository files by
// their stored (encrypted) bytes, so it reveals nothing about plaintext.
func Hash(data []byte) ID { panic("TODO") }

// Key is an unlocked repository master key with its derived subkeys.
// It is safe for concurrent use.
type Key struct{}

// NewRandomKey returns a key with a fresh random master secret.
func NewRandomKey() (*Key, error) { panic("TODO") }

// KeyFromMaster rebuilds a Key from its KeySize-byte master secret.
func KeyFromMaster(master []byte) (*Key, error) { panic("TODO") }

// Master returns a copy of the master secret (only key files store it, encrypted).
func (k *Key) Master() []byte { panic("TODO") }

// AEAD returns the XChaCha20-Poly1305 AEAD keyed with the "data" subkey.
func (k *Key) AEAD() cipher.AEAD { panic("TODO") }

// BlobID returns the keyed BLAKE3-256 of plaintext under the "blob-id" subkey.
func (k *Key) BlobID(plaintext []byte) ID { panic("TODO") }

// GearTable returns the chunker's 256-entry gear table derived from the
// "chunker-gear" subkey (BLAKE3 XOF, little-endian uint64s).
func (k *Key) GearTable() *[256]uint64 { panic("TODO") }

// DeriveKey derives an n-byte subkey from master with HKDF-SHA256 using
// purpose as the info string and no salt.
func DeriveKey(master []byte, purpose string, n int) []byte { panic("TODO") }

// NewAEAD returns XChaCha20-Poly1305 keyed with key (KeySize bytes).
func NewAEAD(key []byte) (cipher.AEAD, error) { panic("TODO") }

// Seal appends nonce ‖ ciphertext ‖ tag of plaintext to dst, with a fresh
// random nonce and ad as associated data. dst and plaintext must not overlap.
func Seal(a cipher.AEAD, dst, plaintext, ad []byte) []byte { panic("TODO") }

// Open authenticates and decrypts nonce ‖ ciphertext ‖ tag, appending the
// plaintext to dst. Returns ErrAuth (wrapped) on any failure, never panics.
func Open(a cipher.AEAD, dst, sealed, ad []byte) ([]byte, error) { panic("TODO") }

// KDFParams are Argon2id parameters, recorded in every key file.
type KDFParams struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// DefaultKDFParams returns the parameters used by init and key add.
func DefaultKDFParams() KDFParams { panic("TODO") }

// Validate rejects parameters outside sane bounds (hostile key files must not
// make us allocate terabytes or loop forever).
func (p KDFParams) Validate() error { panic("TODO") }

// DeriveKEK stretches password with Argon2id into a KeySize-byte key-encryption key.
func DeriveKEK(password, salt []byte, p KDFParams) ([]byte, error) { panic("TODO") }
