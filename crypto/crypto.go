// Package crypto holds immich-vault's cryptographic building blocks: the
// 32-byte ID type, the AEAD constructions (XChaCha20-Poly1305 or
// XAES-256-GCM, both with random 24-byte nonces), HKDF-SHA256 subkey
// derivation, keyed BLAKE3 blob IDs, the key-derived chunker gear table and
// Argon2id password stretching.
//
// It depends only on the standard library, x/crypto, x/sys/cpu and
// zeebo/blake3.
//
// # Format
//
// Every byte this package puts on disk is part of the repository format
// (docs/FORMAT.md, "Keys, KDF and encryption"):
//
//   - Hash(x)   = BLAKE3-256(x), unkeyed.
//   - subkey(p) = HKDF-SHA256(ikm = master, salt = none, info = p), 32 bytes,
//     with p one of the Purpose* constants below.
//   - BlobID(x) = BLAKE3-256 keyed with subkey(PurposeBlobID), over x.
//   - GearTable = the first 2048 bytes of the BLAKE3 XOF keyed with
//     subkey(PurposeChunkerGear) over the empty input, read as 256
//     little-endian uint64.
//   - Seal      = nonce(24, random) ‖ ciphertext ‖ tag(16), with the
//     repository's Cipher: XChaCha20-Poly1305 under subkey(PurposeData) or
//     XAES-256-GCM (xaes.go) under subkey(PurposeDataXAES). The config is
//     always sealed with XChaCha20-Poly1305 under subkey(PurposeData)
//     (Key.ConfigAEAD): it is read before the cipher is known.
//
// # Concurrency
//
// Key, the AEAD it returns and all package-level functions are safe for
// concurrent use.
package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// IDSize is the size of every identifier in a repository.
const IDSize = 32

// KeySize is the size of the master key and of every derived subkey.
const KeySize = 32

// NonceSize is the nonce size of every Cipher (XChaCha20-Poly1305 and
// XAES-256-GCM).
const NonceSize = 24

// TagSize is the tag size of every Cipher (Poly1305 and GCM).
const TagSize = 16

// Overhead is the number of bytes Seal adds to a plaintext (nonce + tag).
const Overhead = NonceSize + TagSize

// HKDF info strings of the subkeys derived from the master key.
//
// NB: these are on-disk constants of format v1. They must never change:
// changing one makes every existing repository unreadable (data subkey),
// breaks deduplication against it (blob-ID subkey) or moves every chunk
// boundary (gear subkey). A new purpose gets a new string.
const (
	PurposeData        = "immich-vault v1 data"
	PurposeBlobID      = "immich-vault v1 blob-id"
	PurposeChunkerGear = "immich-vault v1 chunker-gear"
	// PurposeDataXAES keys XAES-256-GCM in repositories that use it: a key
	// is never used with two different ciphers (the config of such a
	// repository is sealed with XChaCha20-Poly1305 under PurposeData).
	PurposeDataXAES = "immich-vault v1 data xaes-256-gcm"
)

// GearTableBytes is the number of XOF bytes the gear table is read from.
const GearTableBytes = 256 * 8

// maxSealedLen bounds what Open hands to chacha20poly1305, which panics on
// ciphertexts above 2^38+64 bytes; such input can only be hostile. (GCM's
// own limit, 2^36-32 bytes, is lower; its Open returns an error.) It is
// compared as a uint64: it does not fit a 32-bit int (linux/arm, 386),
// where no slice can reach it anyway.
const maxSealedLen = NonceSize + (1 << 38) + 64

// ErrAuth is returned by Open when the ciphertext, nonce or associated data
// does not authenticate (wrong key, tampering, truncation).
var ErrAuth = errors.New("crypto: authentication failed")

// ErrKDFParams is returned (wrapped) for Argon2id parameters out of bounds.
var ErrKDFParams = errors.New("crypto: invalid kdf parameters")

// ID identifies a blob (keyed BLAKE3 of its plaintext) or a repository file
// (unkeyed BLAKE3 of its stored bytes).
type ID [IDSize]byte

// String returns the lower-case hex form (64 characters).
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex characters.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsNull reports whether id is all zeros.
func (id ID) IsNull() bool { return id == ID{} }

// Compare orders IDs by their bytes (the order of their hex forms, without
// formatting them): -1, 0 or +1 as id is less than, equal to or greater
// than other. For sort.Slice, slices.SortFunc and the like.
func (id ID) Compare(other ID) int { return bytes.Compare(id[:], other[:]) }

// MarshalText encodes id as 64 lower-case hex characters (so IDs are hex
// strings in JSON, not arrays of numbers).
func (id ID) MarshalText() ([]byte, error) {
	out := make([]byte, 2*IDSize)
	hex.Encode(out, id[:])
	return out, nil
}

// UnmarshalText is the inverse of MarshalText; it accepts what ParseID accepts.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses a 64-character hex string (either case).
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("crypto: parse id %q: want %d hex characters, got %d", truncate(s), 2*IDSize, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("crypto: parse id %q: %w", truncate(s), err)
	}
	return id, nil
}

// truncate keeps error messages about hostile input short.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Hash returns the unkeyed BLAKE3-256 of data. It names repository files by
// their stored (encrypted) bytes, so it reveals nothing about plaintext.
func Hash(data []byte) ID { return blake3.Sum256(data) }

// Key is an unlocked repository master key with its derived subkeys, set
// up for one Cipher (KeyFromMaster: XChaCha20Poly1305; see WithCipher).
// It is safe for concurrent use.
type Key struct {
	master  [KeySize]byte
	blobKey [KeySize]byte
	cipher  Cipher
	aead    cipher.AEAD // cipher, keyed with its data subkey
	config  cipher.AEAD // XChaCha20-Poly1305 under subkey(PurposeData)
	gear    *[256]uint64
	// hashers holds *blake3.Hasher keyed with blobKey: a hasher is ~8.5 KiB,
	// and BlobID runs for every chunk on every core.
	hashers sync.Pool
}

// NewRandomKey returns a key with a fresh random master secret.
func NewRandomKey() (*Key, error) {
	var m [KeySize]byte
	if _, err := rand.Read(m[:]); err != nil {
		return nil, fmt.Errorf("crypto: random master key: %w", err)
	}
	return KeyFromMaster(m[:])
}

// KeyFromMaster rebuilds a Key from its KeySize-byte master secret, set up
// for XChaCha20Poly1305 (the cipher of format v1 as first written; call
// WithCipher for the one a repository's config names). master is copied;
// the caller may wipe it afterwards.
func KeyFromMaster(master []byte) (*Key, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("crypto: master key must be %d bytes, got %d", KeySize, len(master))
	}
	k := &Key{cipher: XChaCha20Poly1305}
	copy(k.master[:], master)

	a, err := NewAEAD(DeriveKey(master, PurposeData, KeySize))
	if err != nil {
		return nil, fmt.Errorf("crypto: data key: %w", err)
	}
	k.aead, k.config = a, a

	k.setBlobIDKey(DeriveKey(master, PurposeBlobID, KeySize))

	k.gear = gearTable(DeriveKey(master, PurposeChunkerGear, KeySize))
	return k, nil
}

// WithCipher returns a Key with k's master key whose AEAD is c, keyed with
// c's data subkey (PurposeData for XChaCha20Poly1305, PurposeDataXAES for
// XAES256GCM). Blob IDs, gear table and ConfigAEAD are the same as k's; k
// itself is unchanged. An unknown c is an error.
func (k *Key) WithCipher(c Cipher) (*Key, error) {
	if _, err := ParseCipher(string(c)); err != nil {
		return nil, err
	}
	if c == k.cipher {
		return k, nil
	}
	a, err := c.New(DeriveKey(k.master[:], c.purpose(), KeySize))
	if err != nil {
		return nil, fmt.Errorf("crypto: data key: %w", err)
	}
	n := &Key{master: k.master, cipher: c, aead: a, config: k.config, gear: k.gear}
	n.setBlobIDKey(k.blobKey[:])
	return n, nil
}

// setBlobIDKey installs the keyed-BLAKE3 key used by BlobID.
func (k *Key) setBlobIDKey(key []byte) {
	copy(k.blobKey[:], key)
	blobKey := k.blobKey
	k.hashers.New = func() any {
		h, err := blake3.NewKeyed(blobKey[:])
		if err != nil { // only on a key length other than 32
			panic("crypto: blake3 keyed hasher: " + err.Error())
		}
		return h
	}
}

// gearTable expands gearKey into the chunker gear table: the keyed BLAKE3
// XOF of the empty input, 2048 bytes read as 256 little-endian uint64.
func gearTable(gearKey []byte) *[256]uint64 {
	h, err := blake3.NewKeyed(gearKey)
	if err != nil {
		panic("crypto: blake3 keyed hasher: " + err.Error())
	}
	var raw [GearTableBytes]byte
	if _, err := io.ReadFull(h.Digest(), raw[:]); err != nil {
		panic("crypto: blake3 xof: " + err.Error()) // Digest.Read never fails
	}
	var t [256]uint64
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	return &t
}

// Master returns a copy of the master secret (only key files store it, encrypted).
func (k *Key) Master() []byte { return slices.Clone(k.master[:]) }

// Cipher returns the cipher AEAD uses.
func (k *Key) Cipher() Cipher { return k.cipher }

// AEAD returns the AEAD that seals repository data: k's Cipher keyed with
// its data subkey. It is shared and safe for concurrent use.
func (k *Key) AEAD() cipher.AEAD { return k.aead }

// ConfigAEAD returns XChaCha20-Poly1305 keyed with the "data" subkey,
// whatever k's Cipher: the repository config is sealed with it, because it
// is opened before the cipher it names is known. For an XChaCha20Poly1305
// key it is the same AEAD as AEAD.
func (k *Key) ConfigAEAD() cipher.AEAD { return k.config }

// BlobID returns the keyed BLAKE3-256 of plaintext under the "blob-id" subkey.
// It does not allocate and is safe for concurrent use.
func (k *Key) BlobID(plaintext []byte) ID {
	h := k.hashers.Get().(*blake3.Hasher)
	h.Reset()
	_, _ = h.Write(plaintext)
	var id ID
	h.Sum(id[:0])
	k.hashers.Put(h)
	return id
}

// GearTable returns the chunker's 256-entry gear table derived from the
// "chunker-gear" subkey (BLAKE3 XOF, little-endian uint64s). It is computed
// once per Key; the returned table is shared and must not be modified
// (chunker.New copies it).
func (k *Key) GearTable() *[256]uint64 { return k.gear }

// DeriveKey derives an n-byte subkey from master with HKDF-SHA256 using
// purpose as the info string and no salt. n must be at most 255*32; larger
// values are a programming error and panic.
func DeriveKey(master []byte, purpose string, n int) []byte {
	if n < 0 || n > 255*sha256.Size {
		panic(fmt.Sprintf("crypto: DeriveKey: invalid length %d", n))
	}
	out := make([]byte, n)
	r := hkdf.New(sha256.New, master, nil, []byte(purpose))
	if _, err := io.ReadFull(r, out); err != nil {
		panic("crypto: hkdf: " + err.Error()) // unreachable for n <= 255*32
	}
	return out
}

// NewAEAD returns XChaCha20-Poly1305 keyed with key (KeySize bytes). It
// wraps the master key in key files, whatever a repository's Cipher.
func NewAEAD(key []byte) (cipher.AEAD, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: new aead: %w", err)
	}
	return a, nil
}

func checkAEAD(a cipher.AEAD) {
	if a.NonceSize() != NonceSize || a.Overhead() != TagSize {
		panic(fmt.Sprintf("crypto: AEAD with nonce size %d and overhead %d, want %d and %d",
			a.NonceSize(), a.Overhead(), NonceSize, TagSize))
	}
}

// Seal appends nonce ‖ ciphertext ‖ tag of plaintext to dst, with a fresh
// random nonce and ad as associated data. dst and plaintext must not overlap.
// a must be an AEAD with a 24-byte nonce and a 16-byte tag (XChaCha20-Poly1305
// or XAES-256-GCM); anything else is a programming error and panics.
func Seal(a cipher.AEAD, dst, plaintext, ad []byte) []byte {
	checkAEAD(a)
	n := len(dst)
	dst = slices.Grow(dst, Overhead+len(plaintext))
	dst = dst[:n+NonceSize]
	nonce := dst[n:]
	if _, err := rand.Read(nonce); err != nil {
		// crypto/rand.Read never returns an error since Go 1.24.
		panic("crypto: random nonce: " + err.Error())
	}
	return a.Seal(dst, nonce, plaintext, ad)
}

// Open authenticates and decrypts nonce ‖ ciphertext ‖ tag, appending the
// plaintext to dst. Returns ErrAuth (wrapped) on any failure, never panics on
// hostile input. dst must not overlap sealed, except that
// dst = sealed[NonceSize:NonceSize] decrypts in place (and a must have a
// 24-byte nonce and a 16-byte tag, as for Seal). On error the returned slice
// is nil and the contents of dst's spare capacity are unspecified.
func Open(a cipher.AEAD, dst, sealed, ad []byte) ([]byte, error) {
	checkAEAD(a)
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("open: sealed data too short (%d bytes, need at least %d): %w", len(sealed), Overhead, ErrAuth)
	}
	if uint64(len(sealed)) > maxSealedLen {
		return nil, fmt.Errorf("open: sealed data too large (%d bytes): %w", len(sealed), ErrAuth)
	}
	out, err := a.Open(dst, sealed[:NonceSize], sealed[NonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("open %d bytes: %w", len(sealed), ErrAuth)
	}
	return out, nil
}

// KDFParams are Argon2id parameters, recorded in every key file.
type KDFParams struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// Bounds enforced by KDFParams.Validate.
const (
	MinKDFTime      = 1
	MaxKDFTime      = 16
	MinKDFMemoryKiB = 8 * 1024    // 8 MiB
	MaxKDFMemoryKiB = 1024 * 1024 // 1 GiB
	MinKDFThreads   = 1
	MaxKDFThreads   = 16
	// MinSaltSize is the smallest salt DeriveKEK accepts.
	MinSaltSize = 16
)

// DefaultKDFParams returns the parameters used by init and key add:
// Argon2id t=3, m=64 MiB, p=2 (RFC 9106's second recommended option, with
// two lanes so that small NAS boxes are not oversubscribed; the lane count
// does not change the memory-hardness).
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
}

// Validate rejects parameters outside sane bounds (hostile key files must not
// make us allocate terabytes or loop forever): Time 1..16, MemoryKiB
// 8192..1048576 (8 MiB..1 GiB), Threads 1..16.
func (p KDFParams) Validate() error {
	switch {
	case p.Time < MinKDFTime || p.Time > MaxKDFTime:
		return fmt.Errorf("time %d not in [%d, %d]: %w", p.Time, MinKDFTime, MaxKDFTime, ErrKDFParams)
	case p.MemoryKiB < MinKDFMemoryKiB || p.MemoryKiB > MaxKDFMemoryKiB:
		return fmt.Errorf("memory %d KiB not in [%d, %d]: %w", p.MemoryKiB, MinKDFMemoryKiB, MaxKDFMemoryKiB, ErrKDFParams)
	case p.Threads < MinKDFThreads || p.Threads > MaxKDFThreads:
		return fmt.Errorf("threads %d not in [%d, %d]: %w", p.Threads, MinKDFThreads, MaxKDFThreads, ErrKDFParams)
	}
	return nil
}

// DeriveKEK stretches password with Argon2id into a KeySize-byte key-encryption key.
// p must pass Validate and salt must be at least MinSaltSize bytes.
func DeriveKEK(password, salt []byte, p KDFParams) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("derive kek: %w", err)
	}
	if len(salt) < MinSaltSize {
		return nil, fmt.Errorf("derive kek: salt is %d bytes, need at least %d: %w", len(salt), MinSaltSize, ErrKDFParams)
	}
	prefault(int(p.MemoryKiB) << 10)
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, KeySize), nil
}

// prefault makes the next n-byte allocation land on resident pages.
//
// argon2.IDKey allocates its memory anew and XORs every block into it,
// also in the first pass, so each page of it is read before it is written:
// the read maps the kernel's shared zero page, and the write replaces it
// (copy on write), which flushes the TLB of every core running a thread of
// this process, an inter-processor interrupt per 4 KiB page while the
// other lane computes. On a 2-core VM, the default 64 MiB took 170-230 ms
// and 0.32-0.45 CPU-s, of which Argon2's arithmetic is about 60 ms and
// most of the rest sending those interrupts (perf: native_write_msr under
// do_wp_page). Every command pays it once per key file it tries.
//
// prefault writes one byte per page of a block of n bytes (a first touch by
// a write maps a fresh page without any flush) and frees it with a
// collection; the runtime then hands those resident pages to IDKey's
// allocation, clearing them with memclr: 90 ms and 0.15 CPU-s in all.
// If the runtime places the allocation elsewhere, IDKey is only as slow
// as without this.
func prefault(n int) {
	touch(n)
	runtime.GC()
}

//go:noinline
func touch(n int) {
	b, page := make([]byte, n), os.Getpagesize()
	for i := 0; i < len(b); i += page {
		b[i] = 1
	}
}
