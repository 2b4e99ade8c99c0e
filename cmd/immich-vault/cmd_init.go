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
	return &cobra.Command{
		Use:   "init",
		Short: "Create a new repository",
		Long: `Create a new, empty, encrypted repository at the location given by -r.
The password comes from IMMICH_VAULT_PASSWORD(_FILE/_COMMAND) or is asked twice on a terminal.
A local directory must be missing or empty.`,
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
			r, err := repo.Init(ctx, be, pw, gopts.repoOptions())
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
}
