package main_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The two ciphers `init --encryption` accepts (FORMAT §7.4).
var ciphers = []string{"xchacha20-poly1305", "xaes-256-gcm"}

// cipherCorpus writes a few small files and one 5 MiB file (several
// chunks) of incompressible data under dir.
func cipherCorpus(t *testing.T, dir string) {
	t.Helper()
	writeRandomTree(t, dir, 6, 11, nil)
	big := make([]byte, 5<<20+123)
	rand.NewChaCha8([32]byte{5}).Read(big)
	mustWrite(t, filepath.Join(dir, "video.mp4"), big, 0o644)
}

// initCipher runs `init --json --encryption c` (c "" : no flag) and returns
// the cipher the repository records.
func (e *env) initCipher(o opts, c string, extra ...string) string {
	e.t.Helper()
	args := append([]string{"--json", "init"}, extra...)
	if c != "" {
		args = append(args, "--encryption", c)
	}
	r := e.okOpts(o, args...)
	v := decodeJSON[map[string]string](e.t, r)
	if c != "" && c != "auto" && v["encryption"] != c {
		e.t.Fatalf("init --encryption %s: the repository records %q\n%v", c, v["encryption"], r)
	}
	return v["encryption"]
}

// TestEncryptionAlgorithms makes one repository per cipher, backs up,
// passes check --read-data and restores bit-identical; then copies the
// snapshot into a repository with the other cipher, both with separate keys
// and with shared key material (init --copy-chunker-params-from), and
// checks and restores the copies.
func TestEncryptionAlgorithms(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	src := filepath.Join(root, "src")
	cipherCorpus(t, src)
	compare := func(e *env) {
		t.Helper()
		e.ok("check", "--read-data")
		dst := filepath.Join(e.dir, "restore")
		e.ok("restore", "latest:"+src, "--target", dst)
		compareTrees(t, src, dst, compareOpts{ignoreOwner: os.Geteuid() != 0})
	}
	envs := map[string]*env{}
	for _, c := range ciphers {
		e := newEnv(t)
		e.initCipher(opts{}, c)
		e.backup(exitOK, src)
		compare(e)
		envs[c] = e
	}
	for _, from := range ciphers {
		to := ciphers[0]
		if to == from {
			to = ciphers[1]
		}
		o := opts{extraEnv: []string{"IMMICH_VAULT_FROM_PASSWORD=" + envs[from].password}}
		// Separate keys: blobs re-hashed and re-sealed.
		d := newEnv(t)
		d.initCipher(o, to)
		st := decodeJSON[map[string]any](t, d.okOpts(o, "--json", "copy", "--from-repo", envs[from].repo))
		if st["snapshots_copied"] != 1.0 || st["rehashed"] != true {
			t.Errorf("copy %s → %s: %v", from, to, st)
		}
		compare(d)
		// Shared key material: same blob IDs, every blob re-sealed with
		// the destination's cipher.
		s := newEnv(t)
		s.initCipher(o, to, "--copy-chunker-params-from", envs[from].repo)
		st = decodeJSON[map[string]any](t, s.okOpts(o, "--json", "copy", "--from-repo", envs[from].repo))
		if st["snapshots_copied"] != 1.0 || st["rehashed"] != false {
			t.Errorf("copy %s → %s (shared key): %v", from, to, st)
		}
		compare(s)
	}
}

// TestEncryptionFlag checks the default (auto) and a bad value.
func TestEncryptionFlag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := e.initCipher(opts{}, "")
	if want := autoCipher(t); want != "" && got != want {
		t.Errorf("init without --encryption chose %q, want %q on this CPU", got, want)
	}
	if !contains(ciphers, got) {
		t.Errorf("init chose unknown cipher %q", got)
	}
	a := newEnv(t)
	if got2 := a.initCipher(opts{}, "auto"); got2 != got {
		t.Errorf("--encryption auto chose %q, the default %q", got2, got)
	}

	b := newEnv(t)
	r := b.run("init", "--encryption", "aes-256-gcm")
	if wantCode(t, r, exitFailure) && !strings.Contains(r.stderr, "--encryption") {
		t.Errorf("bad --encryption: unclear message\n%v", r)
	}
	if _, err := os.Stat(b.repo); !os.IsNotExist(err) {
		t.Errorf("a refused init left %s behind (%v)", b.repo, err)
	}
}

// autoCipher is what --encryption auto must choose here, from
// /proc/cpuinfo ("" when it cannot tell).
func autoCipher(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return ""
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, flags, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			f := " " + flags + " "
			if strings.Contains(f, " aes ") && strings.Contains(f, " pclmulqdq ") {
				return "xaes-256-gcm"
			}
			return "xchacha20-poly1305"
		}
	}
	return ""
}
