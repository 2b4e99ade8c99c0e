package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/immich-vault/immich-vault/crypto"
)

const password = "bench-password-not-secret"

// tool drives one backup program. Each repository gets its own cache
// directory (repo + ".cache") so that runs do not share state.
type tool interface {
	Name() string
	Version() string
	Settings() string // compression / encryption used, for the report
	Init(repo string) error
	Backup(repo, src string) (measurement, error)
	BackupStdin(repo, name, file string) (measurement, error)
	// Restore restores the latest snapshot into the empty directory target.
	Restore(repo, target string) (measurement, error)
}

func versionOf(args ...string) string {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// remote is an S3 repository (on the bench's versitygw, usually through
// its shaping proxy) that a tool addresses by a local handle: the handle
// is the path every tool method takes as repo, and names the tool's cache
// and configuration directories (handle + ".cache"), while the data goes
// to the bucket.
type remote struct {
	Endpoint             string // http://127.0.0.1:port
	Bucket, Prefix       string
	AccessKey, SecretKey string
	Conns                int // parallel connections (or the tool's nearest knob)
}

func (r remote) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + r.AccessKey, "AWS_SECRET_ACCESS_KEY=" + r.SecretKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1"}
}

// url is the s3:http://host:port/bucket/prefix form immich-vault and
// restic both take.
func (r remote) url() string { return "s3:" + r.Endpoint + "/" + r.Bucket + "/" + r.Prefix }

// s3Tool is a tool that can keep a repository in S3.
type s3Tool interface {
	tool
	// InitS3 creates a repository in r, reached afterwards through the
	// local handle (passed as repo to Backup and Restore).
	InitS3(handle string, r remote) error
	// S3Knob names the setting that InitS3 derived from Conns, for the
	// report.
	S3Knob() string
	// ClearCache removes the local cache of the repository behind handle
	// (kept: what the tool needs to reach it), as on a new machine after
	// a disaster.
	ClearCache(handle string) error
}

// remotes maps local handles to their S3 repositories.
type remotes map[string]remote

func (m *remotes) add(handle string, r remote) {
	if *m == nil {
		*m = remotes{}
	}
	(*m)[handle] = r
}

// ---- immich-vault ----

type vault struct {
	bin     string
	remotes remotes
}

func (v *vault) Name() string    { return "immich-vault" }
func (v *vault) Version() string { return versionOf(v.bin, "version") }

// Settings names the cipher Init's `init` (--encryption auto) chooses on
// this machine, crypto.DefaultCipher, the one the ceiling's encrypt stage
// measures too; Init checks that the repository really got it.
func (v *vault) Settings() string {
	return "defaults: zstd only where a sample compresses (media: none), " +
		cipherTitle(crypto.DefaultCipher()) + " (`init --encryption auto` on this CPU), Argon2id key"
}
func (v *vault) cmd(repo string, args ...string) command {
	c := command{
		Args: append([]string{v.bin, "-q", "-r", repo, "--cache-dir", repo + ".cache"}, args...),
		Env:  []string{"IMMICH_VAULT_PASSWORD=" + password},
	}
	if r, ok := v.remotes[repo]; ok {
		c.Args = append([]string{v.bin, "-q", "-r", r.url(), "--cache-dir", repo + ".cache", "--s3-connections", fmt.Sprint(r.Conns)}, args...)
		c.Env = append(c.Env, r.env()...)
	}
	return c
}
func (v *vault) S3Knob() string                 { return "--s3-connections N" }
func (v *vault) ClearCache(handle string) error { return os.RemoveAll(handle + ".cache") }
func (v *vault) InitS3(handle string, r remote) error {
	v.remotes.add(handle, r)
	return v.Init(handle)
}
func (v *vault) Init(repo string) error {
	c := v.cmd(repo, "--json", "init")
	_, out, err := run(c)
	if err != nil {
		return err
	}
	// The report's settings (Settings) name crypto.DefaultCipher: fail
	// rather than publish figures under the wrong cipher.
	var res struct{ Encryption string }
	if i := bytes.IndexByte(out, '{'); i < 0 || json.NewDecoder(bytes.NewReader(out[i:])).Decode(&res) != nil {
		return fmt.Errorf("%s: no JSON result in the output: %s", strings.Join(c.Args, " "), tail(string(out), 500))
	}
	if want := crypto.DefaultCipher(); res.Encryption != string(want) {
		return fmt.Errorf("%s: repository encryption is %q, the report assumes %q", strings.Join(c.Args, " "), res.Encryption, want)
	}
	return nil
}
func (v *vault) Backup(repo, src string) (measurement, error) {
	m, _, err := run(v.cmd(repo, "backup", src))
	return m, err
}
func (v *vault) BackupStdin(repo, name, file string) (measurement, error) {
	c := v.cmd(repo, "backup", "--stdin", "--stdin-filename", name)
	c.Stdin = file
	m, _, err := run(c)
	return m, err
}
func (v *vault) Restore(repo, target string) (measurement, error) {
	m, _, err := run(v.cmd(repo, "restore", "latest", "--target", target))
	return m, err
}

// ProfiledBackup is Backup with a CPU profile written to profile and the Go
// runtime's GC trace (GODEBUG=gctrace=1) returned in out, from which
// maxGoHeap reads the largest live heap.
func (v *vault) ProfiledBackup(repo, src, profile string) (m measurement, out []byte, err error) {
	c := v.cmd(repo, "--cpu-profile", profile, "backup", src)
	c.Env = append(c.Env, "GODEBUG=gctrace=1")
	return run(c)
}

// ---- restic ----

type restic struct {
	bin     string
	remotes remotes
}

func (r *restic) Name() string    { return "restic" }
func (r *restic) Version() string { return versionOf(r.bin, "version") }
func (r *restic) Settings() string {
	return "repository v2, --compression auto (default), AES-256-CTR + Poly1305, scrypt key"
}
func (r *restic) cmd(repo string, args ...string) command {
	c := command{
		Args: append([]string{r.bin, "-q", "-r", repo, "--cache-dir", repo + ".cache"}, args...),
		Env:  []string{"RESTIC_PASSWORD=" + password},
	}
	if rm, ok := r.remotes[repo]; ok {
		c.Args = append([]string{r.bin, "-q", "-r", rm.url(), "--cache-dir", repo + ".cache", "-o", fmt.Sprintf("s3.connections=%d", rm.Conns)}, args...)
		c.Env = append(c.Env, rm.env()...)
	}
	return c
}
func (r *restic) S3Knob() string                 { return "-o s3.connections=N" }
func (r *restic) ClearCache(handle string) error { return os.RemoveAll(handle + ".cache") }
func (r *restic) InitS3(handle string, rm remote) error {
	r.remotes.add(handle, rm)
	return r.Init(handle)
}
func (r *restic) Init(repo string) error {
	_, _, err := run(r.cmd(repo, "init"))
	return err
}
func (r *restic) Backup(repo, src string) (measurement, error) {
	m, _, err := run(r.cmd(repo, "backup", src))
	return m, err
}
func (r *restic) BackupStdin(repo, name, file string) (measurement, error) {
	c := r.cmd(repo, "backup", "--stdin", "--stdin-filename", name)
	c.Stdin = file
	m, _, err := run(c)
	return m, err
}
func (r *restic) Restore(repo, target string) (measurement, error) {
	m, _, err := run(r.cmd(repo, "restore", "latest", "--target", target))
	return m, err
}

// ---- borg ----

type borg struct {
	bin   string
	count map[string]int // archives per repository
}

func (b *borg) Name() string    { return "borg" }
func (b *borg) Version() string { return versionOf(b.bin, "--version") }
func (b *borg) Settings() string {
	return "-e repokey-blake2 (AES-256-CTR + BLAKE2b), -C lz4 (borg's default compression)"
}
func (b *borg) cmd(repo string, args ...string) command {
	return command{
		Args: append([]string{b.bin}, args...),
		Env: []string{"BORG_PASSPHRASE=" + password, "BORG_BASE_DIR=" + repo + ".cache",
			"BORG_RELOCATED_REPO_ACCESS_IS_OK=yes", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes"},
	}
}
func (b *borg) Init(repo string) error {
	_, _, err := run(b.cmd(repo, "init", "-e", "repokey-blake2", repo))
	return err
}
func (b *borg) next(repo string) string {
	if b.count == nil {
		b.count = map[string]int{}
	}
	b.count[repo]++
	return fmt.Sprintf("%s::a%04d", repo, b.count[repo])
}
func (b *borg) Backup(repo, src string) (measurement, error) {
	m, _, err := run(b.cmd(repo, "create", "-C", "lz4", b.next(repo), src))
	return m, err
}
func (b *borg) BackupStdin(repo, name, file string) (measurement, error) {
	c := b.cmd(repo, "create", "-C", "lz4", "--stdin-name", name, b.next(repo), "-")
	c.Stdin = file
	m, _, err := run(c)
	return m, err
}
func (b *borg) Restore(repo, target string) (measurement, error) {
	c := b.cmd(repo, "extract", fmt.Sprintf("%s::a%04d", repo, b.count[repo]))
	c.Dir = target
	m, _, err := run(c)
	return m, err
}

// ---- kopia ----

// kopia is driven as its CLI (cli/ of kopia 0.23) defines it: the global
// flags are --config-file, --log-dir and the password (KOPIA_PASSWORD);
// the cache directory is a flag of `repository create` / `connect`
// (--cache-directory, kept in the config file), so it is given only there.
// `snapshot create --parallel` (files uploaded in parallel; 0 = kopia's
// policy default) and `restore --parallel` (default 8) are its nearest
// knob to a connection count, set to remote.Conns for S3 repositories.
type kopia struct {
	bin     string
	remotes remotes
}

func (k *kopia) Name() string    { return "kopia" }
func (k *kopia) Version() string { return "kopia " + versionOf(k.bin, "--version") }
func (k *kopia) Settings() string {
	return "defaults: AES256-GCM-HMAC-SHA256, BLAKE2B-256-128, DYNAMIC-4M-BUZHASH splitter, no compression (kopia's default policy), scrypt key"
}
func (k *kopia) cmd(repo string, args ...string) command {
	return command{
		Args: append([]string{k.bin, "--config-file", filepath.Join(repo+".cache", "kopia.config"),
			"--log-dir", filepath.Join(repo+".cache", "logs")}, args...),
		Env: []string{"KOPIA_PASSWORD=" + password, "KOPIA_CHECK_FOR_UPDATES=false"},
	}
}

// parallel is the --parallel flag for a command on repo (none locally).
func (k *kopia) parallel(repo string) []string {
	if r, ok := k.remotes[repo]; ok {
		return []string{"--parallel", fmt.Sprint(r.Conns)}
	}
	return nil
}
func (k *kopia) Init(repo string) error {
	if err := os.MkdirAll(repo+".cache", 0o755); err != nil {
		return err
	}
	_, _, err := run(k.cmd(repo, "repository", "create", "filesystem", "--path", repo,
		"--cache-directory", filepath.Join(repo+".cache", "cache")))
	return err
}
func (k *kopia) S3Knob() string { return "snapshot create / restore --parallel N" }

// ClearCache keeps kopia's config file (the connection) and removes its
// cache directory.
func (k *kopia) ClearCache(handle string) error {
	return os.RemoveAll(filepath.Join(handle+".cache", "cache"))
}
func (k *kopia) InitS3(handle string, r remote) error {
	k.remotes.add(handle, r)
	if err := os.MkdirAll(handle+".cache", 0o755); err != nil {
		return err
	}
	c := k.cmd(handle, "repository", "create", "s3", "--bucket", r.Bucket,
		"--endpoint", strings.TrimPrefix(r.Endpoint, "http://"), "--disable-tls", "--region", "us-east-1",
		"--access-key", r.AccessKey, "--secret-access-key", r.SecretKey, "--prefix", r.Prefix+"/",
		"--cache-directory", filepath.Join(handle+".cache", "cache"))
	_, _, err := run(c)
	return err
}
func (k *kopia) Backup(repo, src string) (measurement, error) {
	m, _, err := run(k.cmd(repo, append([]string{"snapshot", "create"}, append(k.parallel(repo), src)...)...))
	return m, err
}

// BackupStdin stores the file as /<name>/<name>: kopia names a stdin
// snapshot's source by a directory path and the file inside it by
// --stdin-file.
func (k *kopia) BackupStdin(repo, name, file string) (measurement, error) {
	c := k.cmd(repo, "snapshot", "create", "--stdin-file", name, "/"+name)
	c.Stdin = file
	m, _, err := run(c)
	return m, err
}

// Restore restores the newest snapshot (kopia restore wants its ID).
func (k *kopia) Restore(repo, target string) (measurement, error) {
	_, out, err := run(k.cmd(repo, "snapshot", "list", "--all", "--json"))
	if err != nil {
		return measurement{}, err
	}
	var snaps []struct {
		ID        string `json:"id"`
		StartTime string `json:"startTime"`
	}
	if err := json.Unmarshal(out, &snaps); err != nil || len(snaps) == 0 {
		return measurement{}, fmt.Errorf("kopia snapshot list: no snapshot found (%v)", err)
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].StartTime < snaps[j].StartTime })
	m, _, err := run(k.cmd(repo, append(append([]string{"restore"}, k.parallel(repo)...), snaps[len(snaps)-1].ID, target)...))
	return m, err
}
