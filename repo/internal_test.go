package repo

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo/backend"
	"github.com/immich-vault/immich-vault/repo/backend/mem"
	"github.com/immich-vault/immich-vault/repo/data"
)

// Internal tests cannot use repotest (it imports this package).
var testKDF = crypto.KDFParams{Time: 1, MemoryKiB: crypto.MinKDFMemoryKiB, Threads: 1}

func newTestRepo(t testing.TB) *Repository {
	t.Helper()
	r, err := Init(context.Background(), mem.New(), []byte("pw"), Options{KDF: testKDF, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func validConfig() Config {
	return Config{
		Version:     FormatV1,
		ID:          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Chunker:     ChunkerConfig{Algorithm: chunkerAlgorithm, Profiles: DefaultChunkerProfiles()},
		Compression: compressionAlgo,
		Encryption:  encryptionAlgo,
		BlobID:      blobIDAlgo,
		FileID:      fileIDAlgo,
		PackSize:    DefaultPackSize,
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (func() *Config { c := validConfig(); return &c })().validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	cases := []struct {
		name   string
		modify func(*Config)
		want   error
	}{
		{"version 0", func(c *Config) { c.Version = 0 }, ErrUnsupportedVersion},
		{"version 2", func(c *Config) { c.Version = NewestVersion + 1 }, ErrUnsupportedVersion},
		{"chunker algorithm", func(c *Config) { c.Chunker.Algorithm = "rabin" }, ErrUnsupportedVersion},
		{"compression", func(c *Config) { c.Compression = "lz4" }, ErrUnsupportedVersion},
		{"encryption", func(c *Config) { c.Encryption = "aes-256-gcm" }, ErrUnsupportedVersion},
		{"blob id", func(c *Config) { c.BlobID = "sha256" }, ErrUnsupportedVersion},
		{"file id", func(c *Config) { c.FileID = "" }, ErrUnsupportedVersion},
		{"short id", func(c *Config) { c.ID = "abcd" }, ErrCorrupt},
		{"no data profile", func(c *Config) { delete(c.Chunker.Profiles, ProfileData) }, ErrCorrupt},
		{"nil profiles", func(c *Config) { c.Chunker.Profiles = nil }, ErrCorrupt},
		{"bad profile", func(c *Config) {
			p := c.Chunker.Profiles[ProfileSmall]
			p.Avg = 3 * p.Min
			c.Chunker.Profiles[ProfileSmall] = p
		}, ErrCorrupt},
		{"pack size small", func(c *Config) { c.PackSize = 1<<20 - 1 }, ErrCorrupt},
		{"pack size large", func(c *Config) { c.PackSize = 1<<30 + 1 }, ErrCorrupt},
	}
	for _, tc := range cases {
		c := validConfig()
		tc.modify(&c)
		if err := c.validate(); !errors.Is(err, tc.want) {
			t.Errorf("%s: validate = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestOpenRejectsConfig stores a (correctly sealed) config that this
// program must not use and checks what Open says.
func TestOpenRejectsConfig(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		config func(Config) []byte
		want   error
	}{
		{"unknown compression", func(c Config) []byte { c.Compression = "brotli"; b, _ := json.Marshal(c); return b }, ErrUnsupportedVersion},
		{"unknown chunker", func(c Config) []byte { c.Chunker.Algorithm = "fastcdc-v9"; b, _ := json.Marshal(c); return b }, ErrUnsupportedVersion},
		{"newer version", func(c Config) []byte { c.Version = NewestVersion + 1; b, _ := json.Marshal(c); return b }, ErrUnsupportedVersion},
		{"not json", func(Config) []byte { return []byte("{") }, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRepo(t)
			h := backend.Handle{Type: backend.ConfigFile, Name: backend.ConfigName}
			if err := r.be.Remove(ctx, h); err != nil {
				t.Fatal(err)
			}
			if err := r.saveSealed(ctx, h, tc.config(r.cfg), false); err != nil {
				t.Fatal(err)
			}
			_, err := Open(ctx, r.be, []byte("pw"), Options{NoCache: true})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("config sealed as another file type", func(t *testing.T) {
		r := newTestRepo(t)
		h := backend.Handle{Type: backend.ConfigFile, Name: backend.ConfigName}
		b, _ := json.Marshal(r.cfg)
		if err := r.be.Remove(ctx, h); err != nil {
			t.Fatal(err)
		}
		// Sealed with the snapshot AD: must not authenticate as config.
		if err := r.be.Save(ctx, h, backend.NewByteReader(r.sealFile(backend.SnapshotFile, b, false))); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, r.be, []byte("pw"), Options{NoCache: true}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})
}

func TestSealedRoundTripAndTamper(t *testing.T) {
	r := newTestRepo(t)
	payload := []byte(`{"hello":"world","n":[1,2,3,4,5,6,7,8,9,10,1,2,3,4,5,6,7,8,9,10]}`)
	for _, ft := range []backend.FileType{backend.ConfigFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile} {
		for _, compress := range []bool{false, true} {
			sealed := r.sealFile(ft, payload, compress)
			got, err := r.openSealed(ft, sealed)
			if err != nil || string(got) != string(payload) {
				t.Fatalf("%s compress=%v: %q, %v", ft, compress, got, err)
			}
			for i := range sealed {
				bad := append([]byte(nil), sealed...)
				bad[i] ^= 1
				if _, err := r.openSealed(ft, bad); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s: flipped byte %d: %v, want ErrCorrupt", ft, i, err)
				}
			}
			if _, err := r.openSealed(ft, sealed[:len(sealed)-1]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: truncated: %v", ft, err)
			}
		}
	}
	// Unknown envelope byte, correctly sealed.
	bad := crypto.Seal(r.key.AEAD(), nil, []byte{7, 'x'}, fileAD(backend.IndexFile))
	if _, err := r.openSealed(backend.IndexFile, bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown envelope: %v", err)
	}
	empty := crypto.Seal(r.key.AEAD(), nil, nil, fileAD(backend.IndexFile))
	if _, err := r.openSealed(backend.IndexFile, empty); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty envelope: %v", err)
	}
}

func TestDecodeMarker(t *testing.T) {
	if m, err := decodeMarker(encodeMarker(NewestVersion)); err != nil || m.Version != NewestVersion {
		t.Fatalf("round trip: %+v, %v", m, err)
	}
	for in, want := range map[string]error{
		`{"format":"immich-vault","version":1}`:             nil,
		"  {\"format\":\"immich-vault\",\"version\":1}\n\n": nil,
		`{"format":"immich-vault","version":99}`:            ErrUnsupportedVersion,
		`{"format":"immich-vault","version":-1}`:            ErrUnsupportedVersion,
		`{"format":"immich-vault"}`:                         ErrUnsupportedVersion,
		`{"format":"restic","version":1}`:                   ErrNoRepository,
		`{"version":1}`:                                     ErrNoRepository,
		`{"format":"immich-vault","version":"1"}`:           ErrCorrupt,
		`[]`:                       ErrCorrupt,
		``:                         ErrCorrupt,
		string(make([]byte, 5000)): ErrCorrupt,
	} {
		_, err := decodeMarker([]byte(in))
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("decodeMarker(%.40q) = %v, want %v", in, err, want)
		}
	}
}

// validKeyFile returns a key file for password with a fixed salt.
func validKeyFile(t testing.TB, password []byte) ([]byte, *crypto.Key) {
	t.Helper()
	key, err := crypto.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 32)
	for i := range salt {
		salt[i] = byte(i)
	}
	kek, err := crypto.DeriveKEK(password, salt, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	a, err := crypto.NewAEAD(kek)
	if err != nil {
		t.Fatal(err)
	}
	kf := KeyFile{Version: keyFileVersion, KDF: kdfAlgo, KDFParams: testKDF, Salt: salt,
		Data: crypto.Seal(a, nil, key.Master(), []byte(keyFileAD))}
	b, err := json.Marshal(kf)
	if err != nil {
		t.Fatal(err)
	}
	return b, key
}

func TestDecodeKeyFile(t *testing.T) {
	b, key := validKeyFile(t, []byte("secret"))
	kf, err := decodeKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kf.open([]byte("secret"))
	if err != nil || string(k.Master()) != string(key.Master()) {
		t.Fatalf("open with the right password: %v", err)
	}
	if _, err := kf.open([]byte("Secret")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("open with a wrong password: %v", err)
	}
	mod := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"version 2":    {mod(func(m map[string]any) { m["version"] = 2 }), ErrUnsupportedVersion},
		"kdf scrypt":   {mod(func(m map[string]any) { m["kdf"] = "scrypt" }), ErrUnsupportedVersion},
		"huge memory":  {mod(func(m map[string]any) { m["kdf_params"] = map[string]any{"t": 1, "m": 1 << 30, "p": 1} }), ErrCorrupt},
		"zero time":    {mod(func(m map[string]any) { m["kdf_params"] = map[string]any{"t": 0, "m": 8192, "p": 1} }), ErrCorrupt},
		"short salt":   {mod(func(m map[string]any) { m["salt"] = "AAAA" }), ErrCorrupt},
		"short data":   {mod(func(m map[string]any) { m["data"] = "AAAA" }), ErrCorrupt},
		"not base64":   {mod(func(m map[string]any) { m["data"] = "!!" }), ErrCorrupt},
		"not json":     {[]byte("{"), ErrCorrupt},
		"too large":    {make([]byte, 65<<10), ErrCorrupt},
		"empty object": {[]byte("{}"), ErrUnsupportedVersion},
		"null":         {[]byte("null"), ErrUnsupportedVersion},
	} {
		if _, err := decodeKeyFile(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: decodeKeyFile = %v, want %v", name, err, tc.want)
		}
	}
}

func TestDecodeTreeRejects(t *testing.T) {
	sub := `"subtree":"` + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + `"`
	for name, in := range map[string]string{
		"not json":      `{`,
		"unknown field": `{"nodes":[],"extra":1}`,
		"null node":     `{"nodes":[null]}`,
		"empty name":    `{"nodes":[{"name":"","type":"file"}]}`,
		"dot":           `{"nodes":[{"name":".","type":"file"}]}`,
		"dotdot":        `{"nodes":[{"name":"..","type":"file"}]}`,
		"slash":         `{"nodes":[{"name":"a/b","type":"file"}]}`,
		"nul":           `{"nodes":[{"name":"a\u0000b","type":"file"}]}`,
		"raw slash":     `{"nodes":[{"name":"x","name_raw":"YS9i","type":"file"}]}`,
		"unsorted":      `{"nodes":[{"name":"b","type":"file"},{"name":"a","type":"file"}]}`,
		"duplicate":     `{"nodes":[{"name":"a","type":"file"},{"name":"a","type":"file"}]}`,
		"dir no tree":   `{"nodes":[{"name":"a","type":"dir"}]}`,
		"unknown type":  `{"nodes":[{"name":"a","type":"door"}]}`,
		"bad id":        `{"nodes":[{"name":"a","type":"dir","subtree":"xyz"}]}`,
	} {
		if _, err := data.DecodeTree([]byte(in)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeTree = %v, want ErrCorrupt", name, err)
		}
	}
	ok := `{"nodes":[{"name":"a","type":"dir",` + sub + `},{"name":"b","type":"symlink","linktarget":"a"}]}`
	if tr, err := data.DecodeTree([]byte(ok)); err != nil || len(tr.Nodes) != 2 || tr.Find("b") == nil || tr.Find("c") != nil {
		t.Fatalf("valid tree: %v", err)
	}
}

func TestNodeRawNames(t *testing.T) {
	n := &data.Node{Type: data.NodeSymlink}
	n.SetName("bad\xffname")
	n.SetTarget("tar\xfeget")
	tr := &data.Tree{Nodes: []*data.Node{n}}
	b, err := data.EncodeTree(tr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := data.DecodeTree(b)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Nodes[0]; g.FileName() != "bad\xffname" || g.Target() != "tar\xfeget" {
		t.Fatalf("raw names lost: %q -> %q", g.FileName(), g.Target())
	}
	n.SetName("good")
	if n.NameRaw != nil || n.FileName() != "good" {
		t.Fatalf("SetName(valid) kept raw bytes")
	}
}

func memBackend() backend.Backend { return mem.New() }

// sealRaw seals env (an envelope: encoding byte ‖ payload) as a file of
// type t, with the AEAD r really uses for t (fileAEAD: the config's own
// AEAD for the config, r's cipher for the others).
func sealRaw(r *Repository, t backend.FileType, env []byte) []byte {
	return crypto.Seal(r.fileAEAD(t), nil, env, fileAD(t))
}
