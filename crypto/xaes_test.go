package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// xaesVectors are the two single test vectors of the C2SP specification
// (https://c2sp.org/XAES-256-GCM, "Test vectors"): with MSB(L) = 0 and 1.
var xaesVectors = []struct {
	key                   byte // the key is 32 times this byte
	nonce, plaintext, ad  string
	l, k1, kx, ciphertext string // hex; ciphertext includes the tag
}{
	{
		key: 0x01, nonce: "ABCDEFGHIJKLMNOPQRSTUVWX", plaintext: "XAES-256-GCM", ad: "",
		l:          "7298caa565031eadc6ce23d23ea66378",
		k1:         "e531954aca063d5b8d9c47a47d4cc6f0",
		kx:         "c8612c9ed53fe43e8e005b828a1631a0bbcb6ab2f46514ec4f439fcfd0fa969b",
		ciphertext: "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271",
	},
	{
		key: 0x03, nonce: "ABCDEFGHIJKLMNOPQRSTUVWX", plaintext: "XAES-256-GCM", ad: "c2sp.org/XAES-256-GCM",
		l:          "91c08762876dccf9ba204a33768fa5fe",
		k1:         "23810ec50edb99f374409466ed1f4b7b",
		kx:         "e9c621d4cdd9b11b00a6427ad7e559aeedd66b3857646677748f8ca796cb3fd8",
		ciphertext: "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d",
	},
}

func newXAES(t testing.TB, key []byte) *xaes256gcm {
	t.Helper()
	a, err := NewXAES256GCM(key)
	if err != nil {
		t.Fatal(err)
	}
	return a.(*xaes256gcm)
}

func TestXAESVectors(t *testing.T) {
	for _, v := range xaesVectors {
		key := bytes.Repeat([]byte{v.key}, KeySize)
		x := newXAES(t, key)
		// The intermediate values the specification lists.
		b, _ := aes.NewCipher(key)
		var l [16]byte
		b.Encrypt(l[:], l[:])
		if got := hex.EncodeToString(l[:]); got != v.l {
			t.Errorf("key %02x: L = %s, want %s", v.key, got, v.l)
		}
		if got := hex.EncodeToString(x.k1[:]); got != v.k1 {
			t.Errorf("key %02x: K1 = %s, want %s", v.key, got, v.k1)
		}
		var kx [KeySize]byte
		x.deriveKey(&kx, []byte(v.nonce))
		if got := hex.EncodeToString(kx[:]); got != v.kx {
			t.Errorf("key %02x: Kx = %s, want %s", v.key, got, v.kx)
		}
		want := mustHex(t, v.ciphertext)
		var ad []byte
		if v.ad != "" {
			ad = []byte(v.ad)
		}
		got := x.Seal(nil, []byte(v.nonce), []byte(v.plaintext), ad)
		if !bytes.Equal(got, want) {
			t.Errorf("key %02x: Seal = %x, want %x", v.key, got, want)
		}
		pt, err := x.Open(nil, []byte(v.nonce), want, ad)
		if err != nil || string(pt) != v.plaintext {
			t.Errorf("key %02x: Open = %q, %v", v.key, pt, err)
		}
		// Through the package's framing: nonce ‖ ciphertext ‖ tag.
		framed := append([]byte(v.nonce), want...)
		if pt, err := Open(x, nil, framed, ad); err != nil || string(pt) != v.plaintext {
			t.Errorf("key %02x: crypto.Open = %q, %v", v.key, pt, err)
		}
	}
}

// TestXAESAccumulated is the specification's accumulated randomized test:
// key[32], nonce[24], plaintext<0..255> and aad<0..255> (one length byte,
// then the bytes) are read in turn from one SHAKE-128 stream over the empty
// input; every ciphertext is written to a second SHAKE-128, whose first 32
// output bytes after 10 000 iterations are the expected value. Every
// ciphertext is also opened again. IV_XAES_1M=1 runs the specification's
// 1 000 000-iteration variant instead (a few seconds).
func TestXAESAccumulated(t *testing.T) {
	want := "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"
	iterations := 10_000
	if os.Getenv("IV_XAES_1M") == "1" {
		want = "2163ae1445985a30b60585ee67daa55674df06901b890593e824b8a7c885ab15"
		iterations = 1_000_000
	}
	rng, acc := sha3.NewSHAKE128(), sha3.NewSHAKE128()
	read := func(b []byte) {
		if _, err := io.ReadFull(rng, b); err != nil {
			t.Fatal(err)
		}
	}
	var first [16]byte
	read(first[:])
	if got := hex.EncodeToString(first[:]); got != "7f9c2ba4e88f827d616045507605853e" {
		t.Fatalf("SHAKE-128 stream starts with %s", got)
	}
	rng.Reset()
	key, nonce := make([]byte, KeySize), make([]byte, XAESNonceSize)
	var n [1]byte
	var ct, pt []byte
	for range iterations {
		read(key)
		read(nonce)
		read(n[:])
		plaintext := make([]byte, n[0])
		read(plaintext)
		read(n[:])
		ad := make([]byte, n[0])
		read(ad)
		x := newXAES(t, key)
		ct = x.Seal(ct[:0], nonce, plaintext, ad)
		acc.Write(ct)
		var err error
		pt, err = x.Open(pt[:0], nonce, ct, ad)
		if err != nil || !bytes.Equal(pt, plaintext) {
			t.Fatalf("open of a fresh ciphertext: %v", err)
		}
	}
	sum := make([]byte, 32)
	if _, err := io.ReadFull(acc, sum); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(sum); got != want {
		t.Fatalf("accumulated hash over %d iterations = %s, want %s", iterations, got, want)
	}
}

// TestXAESGolden pins a repository-sized use: the XAES data subkey of
// master 00..1f and one sealed blob. The expected values were computed
// independently (Python: hmac/hashlib HKDF, then the specification's steps
// with the "cryptography" package's AES-ECB and AESGCM).
func TestXAESGolden(t *testing.T) {
	kdx := DeriveKey(testMaster(), PurposeDataXAES, KeySize)
	if got := hex.EncodeToString(kdx); got != goldenXAESKey {
		t.Fatalf("xaes data subkey = %s, want %s", got, goldenXAESKey)
	}
	k, err := testKey(t).WithCipher(XAES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("immich-vault nonce 24 by")
	got := k.AEAD().Seal(nil, nonce, []byte("immich"), []byte("ivb1"))
	if hex.EncodeToString(got) != goldenXAESSeal {
		t.Fatalf("seal = %x, want %s", got, goldenXAESSeal)
	}
}

func TestXAESRoundTripAndTamper(t *testing.T) {
	x := newXAES(t, seeded(KeySize, 9))
	for _, n := range []int{0, 1, 15, 16, 17, 255, 4096, 64<<10 + 3} {
		pt := seeded(n, uint64(n)+100)
		ad := []byte("ivb1 ad")
		sealed := Seal(x, nil, pt, ad)
		if len(sealed) != n+Overhead {
			t.Fatalf("n=%d: sealed length %d", n, len(sealed))
		}
		got, err := Open(x, nil, sealed, ad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: open: %v", n, err)
		}
		// In place.
		cp := bytes.Clone(sealed)
		if got, err := Open(x, cp[NonceSize:NonceSize], cp, ad); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: open in place: %v", n, err)
		}
		// Every bit of the nonce's two halves, the ciphertext and the tag matters.
		for _, i := range []int{0, 11, 12, 23, NonceSize, len(sealed) - TagSize - 1, len(sealed) - TagSize, len(sealed) - 1} {
			if i < 0 || i >= len(sealed) {
				continue
			}
			bad := bytes.Clone(sealed)
			bad[i] ^= 0x01
			if _, err := Open(x, nil, bad, ad); !errors.Is(err, ErrAuth) {
				t.Fatalf("n=%d: byte %d flipped: %v", n, i, err)
			}
		}
		for _, badAD := range [][]byte{nil, []byte("ivb1 aD"), append(bytes.Clone(ad), 0)} {
			if _, err := Open(x, nil, sealed, badAD); !errors.Is(err, ErrAuth) {
				t.Fatalf("n=%d: wrong ad %q: %v", n, badAD, err)
			}
		}
		// Another key, and the XChaCha20-Poly1305 AEAD with the same key bytes.
		if _, err := Open(newXAES(t, seeded(KeySize, 10)), nil, sealed, ad); !errors.Is(err, ErrAuth) {
			t.Fatalf("n=%d: other key: %v", n, err)
		}
		xc, _ := NewAEAD(seeded(KeySize, 9))
		if _, err := Open(xc, nil, sealed, ad); !errors.Is(err, ErrAuth) {
			t.Fatalf("n=%d: opened by XChaCha20-Poly1305: %v", n, err)
		}
	}
}

func TestXAESShortInput(t *testing.T) {
	x := newXAES(t, seeded(KeySize, 1))
	nonce := make([]byte, XAESNonceSize)
	for n := range Overhead + 2 {
		in := seeded(n, uint64(n))
		if _, err := Open(x, nil, in, nil); !errors.Is(err, ErrAuth) {
			t.Errorf("crypto.Open of %d bytes: %v", n, err)
		}
		// The raw AEAD too, below the tag size.
		if n <= TagSize {
			if out, err := x.Open(nil, nonce, in, nil); err == nil {
				t.Errorf("Open of a %d-byte ciphertext authenticated: %x", n, out)
			}
		}
	}
}

func TestXAESMisuse(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewXAES256GCM(make([]byte, n)); err == nil {
			t.Errorf("key of %d bytes accepted", n)
		}
	}
	x := newXAES(t, make([]byte, KeySize))
	if x.NonceSize() != NonceSize || x.Overhead() != TagSize {
		t.Fatalf("NonceSize %d, Overhead %d", x.NonceSize(), x.Overhead())
	}
	for _, n := range []int{0, 12, 23, 25} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "nonce") {
					t.Errorf("nonce of %d bytes: recover() = %v", n, r)
				}
			}()
			x.Seal(nil, make([]byte, n), nil, nil)
		}()
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("Open with a nonce of %d bytes did not panic", n)
				}
			}()
			x.Open(nil, make([]byte, n), make([]byte, 32), nil)
		}()
	}
}

func TestXAESAllocs(t *testing.T) {
	x := newXAES(t, seeded(KeySize, 1))
	pt := seeded(64<<10, 1)
	dst := make([]byte, 0, len(pt)+Overhead)
	Seal(x, dst, pt, nil)
	// The per-message AES key schedule and GCM set-up allocate; nothing
	// proportional to the message must.
	if n := testing.AllocsPerRun(50, func() { Seal(x, dst, pt, nil) }); n > 4 {
		t.Errorf("Seal allocates %v times per call", n)
	}
}

func TestCiphers(t *testing.T) {
	for _, c := range Ciphers {
		got, err := ParseCipher(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCipher(%q) = %q, %v", c, got, err)
		}
		a, err := c.New(make([]byte, KeySize))
		if err != nil || a.NonceSize() != NonceSize || a.Overhead() != TagSize {
			t.Errorf("%s: New = %v", c, err)
		}
	}
	if XChaCha20Poly1305 != "xchacha20-poly1305" || XAES256GCM != "xaes-256-gcm" {
		t.Fatal("on-disk cipher names changed")
	}
	for _, s := range []string{"", "aes-256-gcm", "XAES-256-GCM", "xchacha20poly1305", "xaes-256-gcm "} {
		if _, err := ParseCipher(s); !errors.Is(err, ErrUnknownCipher) {
			t.Errorf("ParseCipher(%q) = %v", s, err)
		}
		if _, err := Cipher(s).New(make([]byte, KeySize)); !errors.Is(err, ErrUnknownCipher) {
			t.Errorf("Cipher(%q).New = %v", s, err)
		}
	}
	if d := DefaultCipher(); (d == XAES256GCM) != HasAESHardware() || d == "" {
		t.Errorf("DefaultCipher = %q with HasAESHardware = %v", d, HasAESHardware())
	}
	t.Logf("this CPU: AES hardware %v, default cipher %s", HasAESHardware(), DefaultCipher())
}

func TestKeyWithCipher(t *testing.T) {
	k := testKey(t)
	if k.Cipher() != XChaCha20Poly1305 || k.ConfigAEAD() != k.AEAD() {
		t.Fatalf("KeyFromMaster: cipher %q", k.Cipher())
	}
	if same, err := k.WithCipher(XChaCha20Poly1305); err != nil || same != k {
		t.Fatalf("WithCipher(own cipher) = %p, %v", same, err)
	}
	x, err := k.WithCipher(XAES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	if x.Cipher() != XAES256GCM || k.Cipher() != XChaCha20Poly1305 {
		t.Fatalf("ciphers %q / %q", x.Cipher(), k.Cipher())
	}
	if _, ok := x.AEAD().(*xaes256gcm); !ok {
		t.Fatalf("AEAD is %T", x.AEAD())
	}
	// Same master, blob IDs, gear table and config AEAD.
	if !bytes.Equal(x.Master(), k.Master()) || x.BlobID([]byte("a")) != k.BlobID([]byte("a")) ||
		x.GearTable() != k.GearTable() || x.ConfigAEAD() != k.ConfigAEAD() {
		t.Fatal("WithCipher changed the key material")
	}
	// Data sealed under one cipher does not open under the other.
	sealed := Seal(x.AEAD(), nil, []byte("blob"), []byte("ad"))
	if _, err := Open(k.AEAD(), nil, sealed, []byte("ad")); !errors.Is(err, ErrAuth) {
		t.Fatalf("XAES data opened with XChaCha20-Poly1305: %v", err)
	}
	if pt, err := Open(x.AEAD(), nil, sealed, []byte("ad")); err != nil || string(pt) != "blob" {
		t.Fatalf("open: %q %v", pt, err)
	}
	// The XAES key is the PurposeDataXAES subkey, not the XChaCha one.
	direct, _ := NewXAES256GCM(DeriveKey(testMaster(), PurposeDataXAES, KeySize))
	if _, err := Open(direct, nil, sealed, []byte("ad")); err != nil {
		t.Fatalf("not keyed with PurposeDataXAES: %v", err)
	}
	back, err := x.WithCipher(XChaCha20Poly1305)
	if err != nil || back.Cipher() != XChaCha20Poly1305 {
		t.Fatalf("back to XChaCha20-Poly1305: %v", err)
	}
	if pt, err := Open(back.AEAD(), nil, Seal(k.AEAD(), nil, []byte("v1"), nil), nil); err != nil || string(pt) != "v1" {
		t.Fatalf("XChaCha20-Poly1305 key rebuilt from an XAES key: %v", err)
	}
	if _, err := k.WithCipher("aes-256-gcm"); !errors.Is(err, ErrUnknownCipher) {
		t.Fatalf("unknown cipher: %v", err)
	}
}

// allAEADs returns the AEAD of every Cipher under testKey's data subkeys.
func allAEADs(t testing.TB) map[Cipher]cipher.AEAD {
	t.Helper()
	out := map[Cipher]cipher.AEAD{}
	for _, c := range Ciphers {
		k, err := testKey(t).WithCipher(c)
		if err != nil {
			t.Fatal(err)
		}
		out[c] = k.AEAD()
	}
	return out
}

// Golden values for master 00..1f (see TestXAESGolden).
const (
	goldenXAESKey  = "1b48cbfa2043e2ba9364f0a0b0ee75607fd277ed0a94b45185e26eb0062894ec"
	goldenXAESSeal = "78145c18d5a11f326517a96820ceaf1f1d55a1a71dd8"
)
