package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/internal/config"
	"github.com/immich-vault/immich-vault/maintenance"
	"github.com/immich-vault/immich-vault/repo"
)

func init() { register(newConfigCmd) }

// commandKey is cmd's path without the program name ("immich backup").
func commandKey(cmd *cobra.Command) string {
	p := cmd.CommandPath()
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return p[i+1:]
	}
	return ""
}

// applyConfig loads --config (if any) before a command runs: the global
// settings (repository, password source, cache) fill what neither a flag
// nor the environment gave, and the command's own sections fill the flags
// not given on the command line. The config commands load the file
// themselves.
func applyConfig(cmd *cobra.Command) error {
	if gopts.configFile == "" || cmd.Parent() != nil && cmd.Parent().Name() == "config" {
		return nil
	}
	f, err := config.Load(gopts.configFile)
	if err != nil {
		return configErr(err)
	}
	gopts.cfg = f
	applyGlobals(f)
	return applySettings(cmd, f, commandKey(cmd), nil)
}

func configErr(err error) error {
	if errors.Is(err, config.ErrInvalid) {
		return fmt.Errorf("%w\nNothing was run. Fix the file (docs/CONFIG.md lists every key); `immich-vault config validate` checks it", err)
	}
	return err
}

// applyGlobals: command line > environment > configuration file.
func applyGlobals(f *config.File) {
	if gopts.repo == "" {
		gopts.repo = f.Repository
	}
	if gopts.cacheDir == "" {
		gopts.cacheDir = f.CacheDir
	}
	_, envPW := os.LookupEnv("IMMICH_VAULT_PASSWORD")
	if gopts.passwordFile == "" && gopts.passwordCommand == "" && !envPW {
		gopts.passwordFile, gopts.passwordCommand = f.PasswordFile, f.PasswordCommand
	}
}

// applySettings sets the flags of cmd that key reads from f, except those
// given on the command line and those named in skip.
func applySettings(cmd *cobra.Command, f *config.File, key string, skip map[string]bool) error {
	for _, s := range f.Settings(key) {
		fl := cmd.Flags().Lookup(s.Flag)
		if fl == nil {
			// config.Settings and the command disagree: a bug, caught by
			// TestConfigSettingsMatchFlags.
			return fmt.Errorf("config file %s: %s: `%s` has no --%s flag (please report this bug)", f.Path, s.Key, cmd.CommandPath(), s.Flag)
		}
		if fl.Changed || skip[s.Flag] {
			continue // the command line wins
		}
		for _, v := range s.Values {
			if err := fl.Value.Set(v); err != nil {
				return configErr(fmt.Errorf("%w: config file %s: %s %q: %v", config.ErrInvalid, f.Path, s.Key, v, err))
			}
		}
	}
	return nil
}

// commandFor returns a fresh instance of the command at key ("immich
// backup"), built by the same constructors as the command line's.
func commandFor(key string) *cobra.Command {
	root := &cobra.Command{Use: "immich-vault"}
	for _, c := range commands {
		root.AddCommand(c())
	}
	c, _, err := root.Find(strings.Fields(key))
	if err != nil || c == root {
		return nil
	}
	return c
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Write or check the configuration file (docs/CONFIG.md)",
		Long: `The configuration file (YAML, --config or IMMICH_VAULT_CONFIG) holds the
repository and password source, the Immich install or paths to back up, the
retention, prune and check policies, offsite copy targets, hooks,
notifications, the metrics and log files. Every command reads the sections it
needs; the command line wins over the file, and the environment over the
file's repository and password. See docs/CONFIG.md.

  immich-vault config init --immich-dir /opt/immich > /etc/immich-vault/config.yaml
  immich-vault config validate --config /etc/immich-vault/config.yaml
  immich-vault run --config /etc/immich-vault/config.yaml`,
	}
	cmd.AddCommand(newConfigInitCmd(), newConfigValidateCmd())
	return cmd
}

func newConfigInitCmd() *cobra.Command {
	var immichDir, output, repoLoc, pwFile string
	cmd := &cobra.Command{
		Use:   "init --immich-dir DIR [--output FILE]",
		Short: "Write a commented configuration file for an Immich install",
		Long: `Read an Immich install directory (.env and the compose file) and write a
commented configuration file with what was found and safe defaults: keep 7
daily, 4 weekly and 12 monthly snapshots, prune weekly, check every night
reading a seventh of the data. Written to standard output, or to --output
(never overwriting an existing file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d := config.Detected{Repository: repoLoc, PasswordFile: pwFile}
			if d.Repository == "" {
				d.Repository = gopts.repo
			}
			if d.PasswordFile == "" {
				d.PasswordFile = gopts.passwordFile
			}
			if immichDir != "" {
				c, err := immich.LoadInstall(immichDir)
				if err != nil {
					return fmt.Errorf("%w\nPoint --immich-dir at the folder holding Immich's .env and docker-compose.yml", err)
				}
				d.ImmichDir, d.ImmichVersion, d.UploadLocation = c.ImmichDir, c.ImmichVersion, c.UploadLocation
				d.DBContainer, d.ServerContainer, d.ServerURL = c.DB.Container, c.ServerContainer, c.ServerURL
				for _, m := range c.External {
					d.External = append(d.External, m.Host)
				}
			}
			b := config.Template(d)
			if _, err := config.Parse(b); err != nil {
				return fmt.Errorf("the generated configuration does not parse (please report this bug): %w", err)
			}
			if output == "" || output == "-" {
				_, err := gopts.stdout.Write(b)
				return err
			}
			fh, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				if errors.Is(err, os.ErrExist) {
					return fmt.Errorf("%s exists: not overwritten (remove it or give another --output)", output)
				}
				return err
			}
			if _, err := fh.Write(b); err != nil {
				fh.Close()
				return err
			}
			if err := fh.Close(); err != nil {
				return err
			}
			gopts.printf("wrote %s: review it, then run `immich-vault config validate --config %s`\n", output, output)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&immichDir, "immich-dir", "", "Immich install `directory` holding .env and docker-compose.yml")
	f.StringVarP(&output, "output", "o", "", "write to `file` (mode 0600, never overwritten; default: standard output)")
	f.StringVar(&repoLoc, "repository", "", "repository `location` to put in the file (default: -r / IMMICH_VAULT_REPOSITORY, else an example)")
	f.StringVar(&pwFile, "repository-password-file", "", "password `file` to name in the file (default: --password-file, else an example)")
	return cmd
}

func newConfigValidateCmd() *cobra.Command {
	var openRepository, syntaxOnly bool
	cmd := &cobra.Command{
		Use:   "validate [--config FILE]",
		Short: "Check the configuration file without running anything",
		Long: `Parse the configuration file strictly (an unknown key is an error naming its
line), give every command the sections it reads exactly as it would at run
time (so a bad value fails here, not at 3 a.m.), and check that the files it
names exist: password files, the Immich install's .env and compose file.
Nothing is backed up, changed or contacted; --open also opens the
repository and every copy target with their passwords (read-only).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if gopts.configFile == "" {
				return errors.New("no configuration file: give --config FILE or set IMMICH_VAULT_CONFIG")
			}
			f, err := config.Load(gopts.configFile)
			if err != nil {
				return configErr(err)
			}
			var problems []string
			for _, key := range config.Commands {
				c := commandFor(key)
				if c == nil {
					problems = append(problems, "internal: no command "+key)
					continue
				}
				if err := applySettings(c, f, key, nil); err != nil {
					problems = append(problems, err.Error())
				}
			}
			problems = append(problems, checkValues(f)...)
			if !syntaxOnly {
				problems = append(problems, checkFiles(f)...)
			}
			if openRepository && len(problems) == 0 {
				problems = append(problems, openAll(cmd.Context(), f)...)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%w: %s:\n  %s", config.ErrInvalid, f.Path, strings.Join(problems, "\n  "))
			}
			gopts.printf("%s is valid: %s\n", f.Path, describe(f))
			return nil
		},
	}
	cmd.Flags().BoolVar(&syntaxOnly, "syntax-only", false, "skip the checks of the files it names (for a file written for another machine)")
	cmd.Flags().BoolVar(&openRepository, "open", false, "also open the repository and each copy target (reads their config; writes nothing)")
	return cmd
}

// checkValues parses the values that the commands parse only when they
// run (string flags), with the same functions.
func checkValues(f *config.File) []string {
	var p []string
	pf := pruneFlags{maxUnused: f.Prune.MaxUnused, maxRepackSize: f.Prune.MaxRepackSize}
	if pf.maxUnused == "" {
		pf.maxUnused = "5%"
	}
	if _, err := pf.options(); err != nil {
		p = append(p, "prune: "+strings.NewReplacer("--max-unused", "prune.max_unused", "--max-repack-size", "prune.max_repack_size").Replace(err.Error()))
	}
	if s := f.Check.ReadDataSubset; s != "" {
		if _, err := repo.ParseSubset(s); err != nil {
			p = append(p, "check.read_data_subset: "+err.Error())
		}
	}
	if g := f.Retention.GroupBy; g != nil {
		if _, err := maintenance.ParseGroupBy(*g); err != nil {
			p = append(p, "retention.group_by: "+err.Error())
		}
	}
	return p
}

// checkFiles reports files the configuration names that are missing.
func checkFiles(f *config.File) []string {
	var p []string
	exists := func(key, path string) {
		if path == "" {
			return
		}
		if _, err := os.Stat(path); err != nil {
			p = append(p, fmt.Sprintf("%s: %v", key, err))
		}
	}
	if f.Repository == "" && os.Getenv("IMMICH_VAULT_REPOSITORY") == "" {
		p = append(p, "repository: not set (nor IMMICH_VAULT_REPOSITORY)")
	}
	exists("password_file", f.PasswordFile)
	if f.Immich != nil {
		if f.Immich.Dir != "" {
			if _, err := immich.LoadInstall(f.Immich.Dir); err != nil {
				p = append(p, fmt.Sprintf("immich.dir: %v", err))
			}
		} else if f.Immich.UploadLocation == "" {
			p = append(p, "immich: give dir (the install folder) or upload_location")
		}
	} else if len(f.Backup.Paths) == 0 {
		p = append(p, "nothing to back up: give an immich: section or backup.paths")
	}
	for _, path := range f.Backup.Paths {
		exists("backup.paths", path)
	}
	for _, path := range f.Backup.ExcludeFiles {
		exists("backup.exclude_files", path)
	}
	for _, t := range f.Copy {
		exists("copy "+t.Label()+" password_file", t.PasswordFile)
	}
	if f.MetricsFile != "" {
		exists("metrics_file (its folder)", filepath.Dir(f.MetricsFile))
	}
	if f.LogFile != "" {
		exists("log_file (its folder)", filepath.Dir(f.LogFile))
	}
	return p
}

// openAll opens the repository and every copy target (config validate --open).
func openAll(ctx context.Context, f *config.File) []string {
	var p []string
	applyGlobals(f)
	if r, err := openRepo(ctx); err != nil {
		p = append(p, fmt.Sprintf("repository %s: %v", gopts.repo, err))
	} else {
		r.Close()
	}
	for _, t := range f.Copy {
		r, err := openTarget(ctx, t)
		if err != nil {
			p = append(p, fmt.Sprintf("copy target %s: %v", t.Label(), err))
			continue
		}
		r.Close()
	}
	return p
}

func describe(f *config.File) string {
	var parts []string
	if f.Immich != nil {
		parts = append(parts, "Immich at "+orDefault(f.Immich.Dir, f.Immich.UploadLocation))
	}
	if len(f.Backup.Paths) > 0 {
		parts = append(parts, fmt.Sprintf("%d path(s)", len(f.Backup.Paths)))
	}
	if !f.Retention.Empty() {
		parts = append(parts, "retention set")
	} else {
		parts = append(parts, "no retention (run keeps every snapshot)")
	}
	if len(f.Copy) > 0 {
		parts = append(parts, fmt.Sprintf("%d copy target(s)", len(f.Copy)))
	}
	return strings.Join(parts, ", ")
}

func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// openTarget opens a copy target with its own password source.
func openTarget(ctx context.Context, t config.CopyTarget) (*repo.Repository, error) {
	be, err := openBackend(t.Repository)
	if err != nil {
		return nil, err
	}
	if _, err := repo.CheckMarker(ctx, be); err != nil {
		return nil, err
	}
	g := *gopts // no password source of its own: the main repository's
	if t.PasswordFile != "" || t.PasswordCommand != "" {
		g.passwordFile, g.passwordCommand = t.PasswordFile, t.PasswordCommand
	}
	pw, err := g.readPassword(ctx, "enter password for "+t.Label()+": ")
	if err != nil {
		return nil, err
	}
	return repo.Open(ctx, be, pw, gopts.repoOptions())
}
