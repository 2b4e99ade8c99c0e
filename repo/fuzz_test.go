package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo/backend"
)

// Fuzz targets for every parser of repository data. Committed seeds live in
// testdata/fuzz/FuzzX/; run one with `go test -fuzz=FuzzX ./repo`.

func FuzzDecodeSnapshot(f *testing.F) {
	id := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	f.Add([]byte(`{"time":"2024-05-06T07:08:09Z","host":"nas","uid":0,"gid":0,"paths":["/data"],"tree":"` + id + `"}`))
	f.Add([]byte(`{"time":"2024-05-06T07:08:09.5+02:00","host":"h","tags":["a","b"],"paths":["/immich/db.sql","/x"],"tree":"` + id +
		`","parent":"` + id + `","partial":true,"summary":{"files_new":3,"bytes_read":77},"metadata":{"immich":{"v":1}},"program_version":"0.1"}`))
	f.Add([]byte(`{"tree":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sn, err := DecodeSnapshot(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if sn.Tree.IsNull() {
			t.Fatal("accepted a snapshot without tree")
		}
		enc, err := json.Marshal(sn)
		if err != nil {
			// Only times outside [0000, 9999] cannot be marshalled; they
			// cannot be parsed from RFC 3339 either.
			t.Fatalf("accepted snapshot does not encode: %v", err)
		}
		sn2, err := DecodeSnapshot(enc)
		if err != nil {
			t.Fatalf("re-encoded snapshot rejected: %v\n%s", err, enc)
		}
		enc2, _ := json.Marshal(sn2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("snapshot changed in a round trip:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeKeyFile(f *testing.F) {
	valid, _ := validKeyFile(f, []byte("fuzz password"))
	f.Add(valid)
	f.Add([]byte(`{"version":1,"kdf":"argon2id","kdf_params":{"t":1,"m":8192,"p":1},"salt":"AAAAAAAAAAAAAAAAAAAAAA==","data":"` +
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + `"}`))
	f.Add([]byte(`{"version":1,"kdf":"argon2id","kdf_params":{"t":16,"m":1048576,"p":16}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := decodeKeyFile(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("error wraps neither ErrCorrupt nor ErrUnsupportedVersion: %v", err)
			}
			return
		}
		// Bound the Argon2id cost per input.
		if kf.KDFParams.MemoryKiB > 64*1024 || kf.KDFParams.Time > 2 {
			return
		}
		k, err := kf.open([]byte("fuzz password"))
		if err != nil {
			if !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("open: %v, want ErrWrongPassword", err)
			}
			return
		}
		if k == nil || len(k.Master()) == 0 {
			t.Fatal("open returned no key")
		}
	})
}

func FuzzDecodeMarker(f *testing.F) {
	f.Add(encodeMarker(NewestVersion))
	f.Add([]byte(`{"format":"immich-vault","version":2}`))
	f.Add([]byte(`{"format":"restic","version":1}`))
	f.Add([]byte(` {"version":1e400} `))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMarker(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrNoRepository) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if m.Format != markerFormatName || m.Version < MinSupportedVersion || m.Version > NewestVersion {
			t.Fatalf("accepted marker %+v", m)
		}
		if m2, err := decodeMarker(encodeMarker(m.Version)); err != nil || m2 != m {
			t.Fatalf("round trip: %+v, %v", m2, err)
		}
	})
}

func FuzzConfig(f *testing.F) {
	valid, _ := json.Marshal(validConfig())
	f.Add(valid)
	f.Add([]byte(`{"version":1,"id":"` + validConfig().ID + `","chunker":{"algorithm":"fastcdc-gear-v1","profiles":{"data":{"Min":64,"Avg":128,"Max":256}}},` +
		`"compression":"zstd","encryption":"xchacha20-poly1305","blob_id":"blake3-keyed-256","file_id":"blake3-256","pack_size":1048576,"extra":{"x":[1]}}`))
	f.Add([]byte(`{"chunker":{"profiles":{"data":{"Min":-1,"Avg":0,"Max":-9223372036854775808}}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		if err := c.validate(); err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		enc, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("valid config does not encode: %v", err)
		}
		var c2 Config
		if err := json.Unmarshal(enc, &c2); err != nil {
			t.Fatal(err)
		}
		if err := c2.validate(); err != nil {
			t.Fatalf("re-encoded config invalid: %v", err)
		}
	})
}

var (
	fuzzRepoOnce sync.Once
	fuzzRepos    []*Repository
	fuzzRepoErr  error
)

// sharedFuzzRepos returns one repository per crypto.Ciphers entry, in that
// order, created once per fuzz process (Argon2id and cache setup are too
// slow to repeat per input). They are never closed: the process exits.
func sharedFuzzRepos(t testing.TB) []*Repository {
	fuzzRepoOnce.Do(func() {
		for _, c := range crypto.Ciphers {
			r, err := Init(t.Context(), memBackend(), []byte("pw"), Options{KDF: testKDF, NoCache: true, Encryption: c})
			if err != nil {
				fuzzRepoErr = err
				return
			}
			fuzzRepos = append(fuzzRepos, r)
		}
	})
	if fuzzRepoErr != nil {
		t.Fatal(fuzzRepoErr)
	}
	return fuzzRepos
}

var sealedTypes = []backend.FileType{backend.ConfigFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile}

// FuzzOpenSealed feeds hostile bytes to openSealed of a repository whose
// cipher is crypto.Ciphers[c % len(crypto.Ciphers)] (0: XChaCha20-Poly1305,
// 1: XAES-256-GCM), for the file type sealedTypes[typ % len(sealedTypes)].
// With seal set, the input is the envelope plaintext and is sealed first
// (with the AEAD that type really uses, sealRaw), so the fuzzer reaches the
// envelope and zstd decoding behind the authentication.
func FuzzOpenSealed(f *testing.F) {
	repos := sharedFuzzRepos(f)
	payload := []byte(`{"nodes":[],"hello":"world world world world world world"}`)
	for ci, r := range repos {
		c := uint8(ci)
		for i, ft := range sealedTypes {
			f.Add(c, uint8(i), false, r.sealFile(ft, payload, false))
			f.Add(c, uint8(i), false, r.sealFile(ft, payload, true))
			// Sealed by the other repository: authentication fails.
			f.Add(c+1, uint8(i), false, r.sealFile(ft, payload, true))
		}
		f.Add(c, uint8(0), true, append([]byte{envelopeZstd}, r.enc.EncodeAll(payload, nil)...))
		f.Add(c, uint8(1), true, append([]byte{envelopeRaw}, payload...))
		f.Add(c, uint8(2), true, []byte{envelopeZstd, 0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58})
		f.Add(c, uint8(3), true, []byte{9})
	}
	f.Fuzz(func(t *testing.T, c, typ uint8, seal bool, b []byte) {
		r := repos[int(c)%len(repos)]
		ft := sealedTypes[int(typ)%len(sealedTypes)]
		in := b
		if seal {
			in = sealRaw(r, ft, b)
		}
		out, err := r.openSealed(ft, in)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			// (openSealed keeps only ErrCorrupt in the chain: match the text.)
			if seal && strings.Contains(err.Error(), crypto.ErrAuth.Error()) {
				t.Fatalf("sealRaw's %s file does not authenticate: %v", ft, err)
			}
			return
		}
		if seal && b[0] == envelopeRaw && !bytes.Equal(out, b[1:]) {
			t.Fatalf("raw envelope: got %q, want %q", out, b[1:])
		}
	})
}
