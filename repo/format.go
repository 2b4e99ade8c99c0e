package repo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/immich-vault/immich-vault/chunker"
	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/pack"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// FormatVersion is a repository format version (docs/FORMAT.md "Changes").
type FormatVersion int

const (
	// FormatV1 is the first format.
	FormatV1 FormatVersion = 1
	// FormatV2 adds split directories (docs/FORMAT.md §9.3): a tree blob
	// may be an index of part trees. Writers split only in version 2
	// repositories; readers of version 1 stop at the marker.
	FormatV2 FormatVersion = 2
	// MinSupportedVersion and NewestVersion bound what this program reads.
	MinSupportedVersion = FormatV1
	NewestVersion       = FormatV2
)

// On-disk strings. NB: these must never change: they are part of the format.
const (
	markerFormatName      = "immich-vault"
	chunkerAlgorithm      = "fastcdc-gear-v1"
	compressionAlgo       = "zstd"
	encryptionAlgo        = string(crypto.XChaCha20Poly1305) // v1's first cipher; configs may also name crypto.XAES256GCM
	blobIDAlgo            = "blake3-keyed-256"
	fileIDAlgo            = "blake3-256"
	kdfAlgo               = "argon2id"
	keyFileAD             = "ivk1"
	fileADPrefix          = "ivf1"
	envelopeRaw      byte = 0 // sealed-file plaintext: 0x00 ‖ payload
	envelopeZstd     byte = 1 // sealed-file plaintext: 0x01 ‖ zstd frame(payload)
)

// Chunker profile names recorded in the config. "data" is used for files,
// "small" for database dumps and other streams that change in place.
const (
	ProfileData  = "data"
	ProfileSmall = "small"
)

// Marker is the plaintext file "immich-vault" at the repository root. It is
// the only unencrypted file besides key files and tells a reader, before any
// password is needed, whether it can read this repository.
type Marker struct {
	Format  string        `json:"format"`  // always "immich-vault"
	Version FormatVersion `json:"version"` // repository format version
}

func encodeMarker(v FormatVersion) []byte {
	b, _ := json.Marshal(Marker{Format: markerFormatName, Version: v})
	return append(b, '\n')
}

func decodeMarker(b []byte) (Marker, error) {
	var m Marker
	if len(b) > 4096 {
		return m, fmt.Errorf("marker file too large (%d bytes): %w", len(b), ErrCorrupt)
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &m); err != nil {
		return m, fmt.Errorf("decode marker: %w: %w", err, ErrCorrupt)
	}
	if m.Format != markerFormatName {
		return m, fmt.Errorf("marker names format %q, not %q: %w", m.Format, markerFormatName, ErrNoRepository)
	}
	if m.Version < MinSupportedVersion || m.Version > NewestVersion {
		return m, fmt.Errorf("repository format version %d (this program reads %d to %d): %w",
			m.Version, MinSupportedVersion, NewestVersion, ErrUnsupportedVersion)
	}
	return m, nil
}

// Config is the repository configuration, stored encrypted in "config".
// Chunker parameters and algorithm names are fixed at init.
type Config struct {
	Version     FormatVersion              `json:"version"`
	ID          string                     `json:"id"` // 64 hex chars, random
	Created     time.Time                  `json:"created"`
	Chunker     ChunkerConfig              `json:"chunker"`
	Compression string                     `json:"compression"` // "zstd"
	Encryption  string                     `json:"encryption"`  // "xchacha20-poly1305" or "xaes-256-gcm" (crypto.Cipher)
	BlobID      string                     `json:"blob_id"`     // "blake3-keyed-256"
	FileID      string                     `json:"file_id"`     // "blake3-256"
	PackSize    int                        `json:"pack_size"`   // target pack size in bytes
	Extra       map[string]json.RawMessage `json:"extra,omitempty"`
}

// ChunkerConfig names the chunking algorithm and its parameter profiles.
type ChunkerConfig struct {
	Algorithm string                    `json:"algorithm"` // "fastcdc-gear-v1"
	Profiles  map[string]chunker.Params `json:"profiles"`
}

// DefaultChunkerProfiles: large chunks for media, small ones for dumps.
func DefaultChunkerProfiles() map[string]chunker.Params {
	return map[string]chunker.Params{
		ProfileData:  {Min: 512 << 10, Avg: 1 << 20, Max: 8 << 20},
		ProfileSmall: {Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10},
	}
}

// DefaultPackSize is the target size of a pack file.
const DefaultPackSize = 16 << 20

func (c *Config) validate() error {
	if c.Version < MinSupportedVersion || c.Version > NewestVersion {
		return fmt.Errorf("config format version %d (this program reads %d to %d): %w",
			c.Version, MinSupportedVersion, NewestVersion, ErrUnsupportedVersion)
	}
	if _, err := crypto.ParseID(c.ID); err != nil {
		return fmt.Errorf("config id: %w: %w", err, ErrCorrupt)
	}
	for what, got := range map[string][2]string{
		"chunker algorithm":     {c.Chunker.Algorithm, chunkerAlgorithm},
		"compression algorithm": {c.Compression, compressionAlgo},
		"blob id algorithm":     {c.BlobID, blobIDAlgo},
		"file id algorithm":     {c.FileID, fileIDAlgo},
	} {
		if got[0] != got[1] {
			return fmt.Errorf("unknown %s %q: %w", what, got[0], ErrUnsupportedVersion)
		}
	}
	if _, err := crypto.ParseCipher(c.Encryption); err != nil {
		return fmt.Errorf("unknown encryption algorithm %q (this program reads %q and %q): %w",
			c.Encryption, crypto.XChaCha20Poly1305, crypto.XAES256GCM, ErrUnsupportedVersion)
	}
	if _, ok := c.Chunker.Profiles[ProfileData]; !ok {
		return fmt.Errorf("config has no %q chunker profile: %w", ProfileData, ErrCorrupt)
	}
	for name, p := range c.Chunker.Profiles {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("chunker profile %q: %w: %w", name, err, ErrCorrupt)
		}
		// A sealed chunk must fit in a blob.
		if p.Max > pack.MaxBlobSize-crypto.Overhead {
			return fmt.Errorf("chunker profile %q: max %d exceeds the blob limit %d: %w", name, p.Max, pack.MaxBlobSize-crypto.Overhead, ErrCorrupt)
		}
	}
	if c.PackSize < 1<<20 || c.PackSize > 1<<30 {
		return fmt.Errorf("pack size %d out of range: %w", c.PackSize, ErrCorrupt)
	}
	return nil
}

// cipher returns the cipher named by a validated config.
func (c *Config) cipher() crypto.Cipher { return crypto.Cipher(c.Encryption) }

// fileAD is the associated data of a sealed repository file of type t.
func fileAD(t backend.FileType) []byte {
	return []byte(fileADPrefix + string(t))
}

// KeyFile is the JSON stored (plaintext) under keys/<id>. The master key is
// sealed with a key derived from the password by Argon2id.
type KeyFile struct {
	Version   int              `json:"version"` // 1
	Created   time.Time        `json:"created"`
	Hostname  string           `json:"hostname,omitempty"`
	Username  string           `json:"username,omitempty"`
	KDF       string           `json:"kdf"` // "argon2id"
	KDFParams crypto.KDFParams `json:"kdf_params"`
	Salt      []byte           `json:"salt"` // base64 in JSON, 32 bytes
	Data      []byte           `json:"data"` // base64: crypto.Seal(KEK, master key, AD "ivk1")
}

const keyFileVersion = 1

func decodeKeyFile(b []byte) (*KeyFile, error) {
	if len(b) > 64<<10 {
		return nil, fmt.Errorf("key file too large (%d bytes): %w", len(b), ErrCorrupt)
	}
	var k KeyFile
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("decode key file: %w: %w", err, ErrCorrupt)
	}
	if k.Version != keyFileVersion {
		return nil, fmt.Errorf("key file version %d: %w", k.Version, ErrUnsupportedVersion)
	}
	if k.KDF != kdfAlgo {
		return nil, fmt.Errorf("key file kdf %q: %w", k.KDF, ErrUnsupportedVersion)
	}
	if err := k.KDFParams.Validate(); err != nil {
		return nil, fmt.Errorf("key file kdf params: %w: %w", err, ErrCorrupt)
	}
	if len(k.Salt) < 16 || len(k.Salt) > 64 {
		return nil, fmt.Errorf("key file salt of %d bytes: %w", len(k.Salt), ErrCorrupt)
	}
	if len(k.Data) != crypto.KeySize+crypto.Overhead {
		return nil, fmt.Errorf("key file data of %d bytes: %w", len(k.Data), ErrCorrupt)
	}
	return &k, nil
}

// open derives the KEK from password and unwraps the master key. Key files
// always use XChaCha20-Poly1305 (crypto.NewAEAD): they are read before the
// config that names the repository's cipher. The returned key is set up for
// XChaCha20-Poly1305 too; Open switches it to the config's cipher.
func (k *KeyFile) open(password []byte) (*crypto.Key, error) {
	kek, err := crypto.DeriveKEK(password, k.Salt, k.KDFParams)
	// Argon2id's memory (64 MiB by default) is garbage now: hand it back
	// to the OS at once instead of carrying it as idle heap through the
	// whole run (warm-cache backup: 126 -> 80 MiB peak RSS).
	debug.FreeOSMemory()
	if err != nil {
		return nil, err
	}
	a, err := crypto.NewAEAD(kek)
	if err != nil {
		return nil, err
	}
	master, err := crypto.Open(a, nil, k.Data, []byte(keyFileAD))
	if err != nil {
		return nil, ErrWrongPassword
	}
	return crypto.KeyFromMaster(master)
}
