package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
)

// XAES-256-GCM (https://c2sp.org/XAES-256-GCM): AES-256-GCM with a 24-byte
// nonce. Each message gets its own AES-256-GCM key, derived from the input
// key K and the first 12 nonce bytes by the NIST SP 800-108r1 counter-mode
// KDF with AES-256-CMAC as PRF; the last 12 nonce bytes are the GCM nonce.
// The whole derivation, written out without CMAC's generality (the CMAC
// input is always exactly one block, so only its first subkey is needed):
//
//	L  = AES-256_K(0^128)
//	K1 = L << 1                         if the top bit of L is 0
//	   = (L << 1) ⊕ 0^120 ‖ 0x87        otherwise
//	M1 = 0x00 ‖ 0x01 ‖ "X" ‖ 0x00 ‖ N[0:12]     (counter 1, label "X", separator, context)
//	M2 = 0x00 ‖ 0x02 ‖ "X" ‖ 0x00 ‖ N[0:12]     (counter 2)
//	Kx = AES-256_K(M1 ⊕ K1) ‖ AES-256_K(M2 ⊕ K1)
//	Nx = N[12:24]
//	XAES-256-GCM(K, N, P, A) = AES-256-GCM(Kx, Nx, P, A)    (ciphertext ‖ 16-byte tag)
//
// L and K1 depend on K only and are computed once by NewXAES256GCM. A
// message then costs two AES block encryptions, one AES-256 key expansion
// and one GCM set-up (the GHASH key) more than plain AES-256-GCM.

// XAESNonceSize is the XAES-256-GCM nonce size (the same as XChaCha20-Poly1305's).
const XAESNonceSize = 24

// xaesLabel is the KDF label: the ASCII letter "X".
const xaesLabel = 0x58

type xaes256gcm struct {
	k  cipher.Block // AES-256 keyed with the input key K
	k1 [aes.BlockSize]byte
}

// NewXAES256GCM returns XAES-256-GCM keyed with key (KeySize = 32 bytes):
// NonceSize 24, Overhead 16. The returned AEAD is safe for concurrent use.
// Seal and Open follow the cipher.AEAD contract (dst may be plaintext[:0] or
// ciphertext[:0] exactly, or not overlap at all) and panic only on a nonce
// that is not 24 bytes long, as crypto/cipher's AEADs do.
func NewXAES256GCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("crypto: xaes-256-gcm key must be %d bytes, got %d", KeySize, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: xaes-256-gcm: %w", err)
	}
	x := &xaes256gcm{k: b}
	// CMAC subkey K1: L = AES_K(0), doubled in GF(2^128).
	var l [aes.BlockSize]byte
	b.Encrypt(l[:], l[:])
	var carry byte
	for i := aes.BlockSize - 1; i >= 0; i-- {
		x.k1[i] = l[i]<<1 | carry
		carry = l[i] >> 7
	}
	// Constant time: the reduction is applied through a mask, not a branch.
	x.k1[aes.BlockSize-1] ^= byte(subtle.ConstantTimeByteEq(carry, 1)) * 0x87
	return x, nil
}

func (*xaes256gcm) NonceSize() int { return XAESNonceSize }
func (*xaes256gcm) Overhead() int  { return TagSize }

// deriveKey writes Kx for the first 12 bytes of a nonce into kx.
func (x *xaes256gcm) deriveKey(kx *[KeySize]byte, n12 []byte) {
	var m [aes.BlockSize]byte
	m[1], m[2] = 1, xaesLabel // m[0] and m[3] stay zero
	copy(m[4:], n12[:12])
	subtle.XORBytes(m[:], m[:], x.k1[:])
	x.k.Encrypt(kx[:aes.BlockSize], m[:])
	// M2 ⊕ K1 differs from M1 ⊕ K1 only in byte 1 (counter 1 → 2).
	m[1] ^= 1 ^ 2
	x.k.Encrypt(kx[aes.BlockSize:], m[:])
}

// gcm returns AES-256-GCM keyed with the key derived from nonce[:12].
func (x *xaes256gcm) gcm(nonce []byte) cipher.AEAD {
	if len(nonce) != XAESNonceSize {
		panic(fmt.Sprintf("crypto: xaes-256-gcm: nonce of %d bytes, want %d", len(nonce), XAESNonceSize))
	}
	var kx [KeySize]byte
	x.deriveKey(&kx, nonce[:12])
	b, err := aes.NewCipher(kx[:])
	if err != nil {
		panic("crypto: xaes-256-gcm: " + err.Error()) // unreachable: kx is 32 bytes
	}
	clear(kx[:])
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("crypto: xaes-256-gcm: " + err.Error()) // unreachable for an AES block
	}
	return g
}

// Seal implements cipher.AEAD.
func (x *xaes256gcm) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	return x.gcm(nonce).Seal(dst, nonce[12:], plaintext, additionalData)
}

// errXAESOpen is returned by Open on any authentication failure.
var errXAESOpen = errors.New("crypto: xaes-256-gcm: message authentication failed")

// Open implements cipher.AEAD.
func (x *xaes256gcm) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	g := x.gcm(nonce)
	if len(ciphertext) < TagSize {
		return nil, errXAESOpen
	}
	out, err := g.Open(dst, nonce[12:], ciphertext, additionalData)
	if err != nil {
		return nil, errXAESOpen
	}
	return out, nil
}
