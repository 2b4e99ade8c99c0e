package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() { register(newGenerateCmd) }

func newGenerateCmd() *cobra.Command {
	var manDir, bash, zsh, fish string
	cmd := &cobra.Command{
		Use:   "generate [--man DIR] [--bash-completion FILE] [--zsh-completion FILE] [--fish-completion FILE]",
		Short: "Write man pages and shell completions (used by make install)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			if manDir == "" && bash == "" && zsh == "" && fish == "" {
				return errors.New("nothing to generate: give --man DIR and/or --bash-completion/--zsh-completion/--fish-completion FILE")
			}
			if manDir != "" {
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return err
				}
				root.DisableAutoGenTag = true
				hdr := &doc.GenManHeader{Title: "IMMICH-VAULT", Section: "1", Source: "immich-vault " + version, Manual: "immich-vault manual"}
				if err := doc.GenManTree(root, hdr, manDir); err != nil {
					return fmt.Errorf("man pages: %w", err)
				}
			}
			for _, c := range []struct {
				file string
				gen  func(string) error
			}{
				{bash, func(f string) error { return root.GenBashCompletionFileV2(f, true) }},
				{zsh, root.GenZshCompletionFile},
				{fish, func(f string) error { return root.GenFishCompletionFile(f, true) }},
			} {
				if c.file == "" {
					continue
				}
				if err := c.gen(c.file); err != nil {
					return fmt.Errorf("completion %s: %w", c.file, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&manDir, "man", "", "write man pages (section 1) into `directory`")
	f.StringVar(&bash, "bash-completion", "", "write the bash completion script to `file`")
	f.StringVar(&zsh, "zsh-completion", "", "write the zsh completion script to `file`")
	f.StringVar(&fish, "fish-completion", "", "write the fish completion script to `file`")
	return cmd
}
