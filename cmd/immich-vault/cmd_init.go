package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newInitCmd) }

func newInitCmd() *cobra.Command {
	var from fromOptions
	var encryption string
	var repoVersion int
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository",
		Long: `Create a new, empty, encrypted repository at the location given by -r.
The password comes from IMMICH_VAULT_PASSWORD(_FILE/_COMMAND) or is asked twice on a terminal.
A local directory must be missing or empty.

--encryption chooses the cipher of the repository's data, for good:
xaes-256-gcm (XAES-256-GCM: AES-256-GCM with 192-bit random nonces) is the
faster one on CPUs with AES instructions (x86-64 AES-NI and PCLMULQDQ,
ARMv8 AES and PMULL), xchacha20-poly1305 everywhere else. Both use 256-bit
keys, random 192-bit nonces and 128-bit tags; auto (the default) picks the
faster one for this machine. Every immich-vault that reads this format
reads both, on any CPU (xaes-256-gcm is only slower to read on a CPU
without AES instructions).

--copy-chunker-params-from SRC makes the new repository share SRC's key
material (its master key, re-encrypted under the new password): chunker gear
table, blob IDs and encryption keys are the same, so data deduplicates across
the two and copy moves blobs without re-hashing (--encryption is chosen
independently: copy re-encrypts every blob). Anyone holding a password of
either repository can decrypt both: use it for your own offsite copy, not to
separate users. SRC's password: --from-password-file or
IMMICH_VAULT_FROM_PASSWORD(_FILE).

--repository-version 1 creates a format 1 repository, which immich-vault
versions older than split directories can read too; its directories are
limited to what one tree blob holds (about 150,000 to 250,000 entries).
The default, 2, stores larger directories split across several tree blobs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			enc, err := parseEncryption(encryption)
			if err != nil {
				return err
			}
			be, err := openBackend(gopts.repo)
			if err != nil {
				return err
			}
			if _, err := repo.CheckMarker(ctx, be); err == nil || !errors.Is(err, repo.ErrNoRepository) {
				if err == nil {
					return fmt.Errorf("%s already holds a repository: nothing was changed", be.Location())
				}
				return err
			}
			if entries, err := os.ReadDir(be.Location()); err == nil && len(entries) > 0 {
				return fmt.Errorf("%s is not empty: init only uses a new or empty directory", be.Location())
			}
			var pw []byte
			if os.Getenv("IMMICH_VAULT_PASSWORD") != "" || gopts.passwordFile != "" || gopts.passwordCommand != "" {
				pw, err = gopts.readPassword(ctx, "")
			} else {
				pw, err = readNewPassword("")
			}
			if err != nil {
				return err
			}
			if len(pw) == 0 {
				return errors.New("empty password refused")
			}
			opts := gopts.repoOptions()
			opts.Encryption = enc
			if repoVersion < int(repo.MinSupportedVersion) || repoVersion > int(repo.NewestVersion) {
				return fmt.Errorf("--repository-version %d: this program creates versions %d to %d", repoVersion, repo.MinSupportedVersion, repo.NewestVersion)
			}
			opts.Version = repo.FormatVersion(repoVersion)
			if from.repo != "" {
				src, err := from.open(ctx)
				if err != nil {
					return err
				}
				defer src.Close()
				opts.ShareKeyWith = src
				opts.ChunkerProfiles = src.Config().Chunker.Profiles
				opts.PackSize = src.Config().PackSize
			}
			r, err := repo.Init(ctx, be, pw, opts)
			if err != nil {
				return fmt.Errorf("create repository at %s: %w", be.Location(), err)
			}
			defer r.Close()
			if gopts.json {
				return gopts.printJSON(map[string]string{"id": r.Config().ID, "location": be.Location(), "encryption": r.Config().Encryption})
			}
			gopts.printf("created immich-vault repository %s at %s (encryption %s)\n", r.Config().ID[:8], be.Location(), r.Config().Encryption)
			gopts.printf("Keep the password safe: without it the data cannot be recovered.\n")
			return nil
		},
	}
	cmd.Flags().IntVar(&repoVersion, "repository-version", int(repo.NewestVersion), "format `version` of the new repository: 1 (readable by older immich-vault, directories limited to one tree blob) or 2 (see above)")
	cmd.Flags().StringVar(&encryption, "encryption", "auto",
		"`cipher` of the repository's data: auto, xaes-256-gcm or xchacha20-poly1305 (auto: "+string(crypto.DefaultCipher())+" on this machine)")
	cmd.Flags().StringVar(&from.repo, "copy-chunker-params-from", "", "share the chunker parameters and key material of the repository at `SRC` (see above)")
	cmd.Flags().StringVar(&from.passwordFile, "from-password-file", os.Getenv("IMMICH_VAULT_FROM_PASSWORD_FILE"),
		"read SRC's password from `file` (env IMMICH_VAULT_FROM_PASSWORD_FILE)")
	return cmd
}

// parseEncryption maps the --encryption value to a cipher ("auto": this
// machine's crypto.DefaultCipher).
func parseEncryption(s string) (crypto.Cipher, error) {
	if s == "auto" {
		return crypto.DefaultCipher(), nil
	}
	c, err := crypto.ParseCipher(s)
	if err != nil {
		return "", fmt.Errorf("--encryption %q: want auto, %s or %s", s, crypto.XAES256GCM, crypto.XChaCha20Poly1305)
	}
	return c, nil
}
