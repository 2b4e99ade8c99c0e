package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newInitCmd) }

func newInitCmd() *cobra.Command {
	var from fromOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository",
		Long: `Create a new, empty, encrypted repository at the location given by -r.
The password comes from IMMICH_VAULT_PASSWORD(_FILE/_COMMAND) or is asked twice on a terminal.
A local directory must be missing or empty.

--copy-chunker-params-from SRC makes the new repository share SRC's key
material (its master key, re-encrypted under the new password): chunker gear
table, blob IDs and encryption keys are the same, so data deduplicates across
the two and copy moves blobs without re-hashing. Anyone holding a password of
either repository can decrypt both: use it for your own offsite copy, not to
separate users. SRC's password: --from-password-file or
IMMICH_VAULT_FROM_PASSWORD(_FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
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
				return gopts.printJSON(map[string]string{"id": r.Config().ID, "location": be.Location()})
			}
			gopts.printf("created immich-vault repository %s at %s\n", r.Config().ID[:8], be.Location())
			gopts.printf("Keep the password safe: without it the data cannot be recovered.\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&from.repo, "copy-chunker-params-from", "", "share the chunker parameters and key material of the repository at `SRC` (see above)")
	cmd.Flags().StringVar(&from.passwordFile, "from-password-file", os.Getenv("IMMICH_VAULT_FROM_PASSWORD_FILE"),
		"read SRC's password from `file` (env IMMICH_VAULT_FROM_PASSWORD_FILE)")
	return cmd
}
