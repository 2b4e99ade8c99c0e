package config

import "strconv"

// Setting is one flag value a command takes from the file.
type Setting struct {
	Key    string   // the YAML key, for messages ("retention.keep_daily")
	Flag   string   // the command's long flag name ("keep-daily")
	Values []string // one flag.Set per value (repeatable flags take several)
}

// Commands lists the command paths (without the program name) that read
// the file, in the order config validate tries them.
var Commands = []string{"immich backup", "immich verify", "immich restore", "immich resume", "backup", "forget", "prune", "check", "copy"}

type settings []Setting

func (s *settings) str(key, flag, v string) {
	if v != "" {
		*s = append(*s, Setting{Key: key, Flag: flag, Values: []string{v}})
	}
}

func (s *settings) list(key, flag string, v []string) {
	if len(v) > 0 {
		*s = append(*s, Setting{Key: key, Flag: flag, Values: v})
	}
}

func (s *settings) boolean(key, flag string, v *bool, invert bool) {
	if v != nil {
		*s = append(*s, Setting{Key: key, Flag: flag, Values: []string{strconv.FormatBool(*v != invert)}})
	}
}

// Settings returns the flag values command (see Commands) takes from the
// file: only the keys of the sections it reads, so a key for another
// command is never an error. Keys the command has no flag for are
// not returned.
func (f *File) Settings(command string) []Setting {
	var s settings
	install := func() {
		if im := f.Immich; im != nil {
			s.str("immich.dir", "immich-dir", im.Dir)
			s.str("immich.upload_location", "upload-location", im.UploadLocation)
			s.str("immich.db_mode", "db-mode", im.DBMode)
			s.str("immich.db_container", "db-container", im.DBContainer)
			s.str("immich.db_user", "db-user", im.DBUser)
			s.str("immich.db_name", "db-name", im.DBName)
			s.str("immich.server_container", "server-container", im.ServerContainer)
			s.str("immich.pg_bin_dir", "pg-bin-dir", im.PGBinDir)
		}
	}
	b := f.Backup
	switch command {
	case "immich backup":
		install()
		if im := f.Immich; im != nil {
			s.str("immich.url", "immich-url", im.URL)
			s.str("immich.quiesce", "quiesce", im.Quiesce)
			s.str("immich.quiesce_timeout", "quiesce-timeout", im.QuiesceTimeout)
			s.str("immich.state_dir", "state-dir", im.StateDir)
			s.boolean("immich.skip_generated", "skip-generated", im.SkipGenerated, false)
			s.boolean("immich.skip_immich_dumps", "skip-immich-dumps", im.SkipImmichDumps, false)
			s.boolean("immich.globals", "globals", im.Globals, false)
			s.list("immich.extra_commands", "extra-command", im.ExtraCommands)
		}
		s.list("backup.paths", "extra-path", b.Paths)
		s.list("backup.tags", "tag", b.Tags)
		s.str("backup.host", "host", b.Host)
		s.str("backup.wait_quiet", "wait-quiet", b.WaitQuiet)
		s.str("backup.wait_quiet_max", "wait-quiet-max", b.WaitQuietMax)
		s.str("backup.require_mount", "require-mount", b.RequireMount)
		s.str("backup.require_uuid", "require-uuid", b.RequireUUID)
		s.boolean("backup.space_check", "no-space-check", b.SpaceCheck, true)
		s.str("metrics_file", "metrics-file", f.MetricsFile)
		s.str("log_file", "log-file", f.LogFile)
	case "immich verify", "immich restore":
		install()
	case "immich resume":
		if im := f.Immich; im != nil {
			s.str("immich.state_dir", "state-dir", im.StateDir)
		}
	case "backup":
		s.list("backup.exclude", "exclude", b.Exclude)
		s.list("backup.exclude_files", "exclude-file", b.ExcludeFiles)
		s.boolean("backup.exclude_caches", "exclude-caches", b.ExcludeCaches, false)
		s.boolean("backup.one_file_system", "one-file-system", b.OneFileSystem, false)
		s.list("backup.tags", "tag", b.Tags)
		s.str("backup.host", "host", b.Host)
		s.str("backup.require_mount", "require-mount", b.RequireMount)
		s.str("backup.require_uuid", "require-uuid", b.RequireUUID)
		s.boolean("backup.space_check", "no-space-check", b.SpaceCheck, true)
	case "forget":
		r := f.Retention
		for _, v := range r.rules() {
			s.str("retention."+underscore(v[0]), v[0], v[1])
		}
		s.list("retention.keep_tag", "keep-tag", r.KeepTag)
		if r.GroupBy != nil {
			s = append(s, Setting{Key: "retention.group_by", Flag: "group-by", Values: []string{*r.GroupBy}})
		}
		s.str("prune.max_unused", "max-unused", f.Prune.MaxUnused)
		s.str("prune.max_repack_size", "max-repack-size", f.Prune.MaxRepackSize)
	case "prune":
		s.str("prune.max_unused", "max-unused", f.Prune.MaxUnused)
		s.str("prune.max_repack_size", "max-repack-size", f.Prune.MaxRepackSize)
	case "check":
		s.boolean("check.read_data", "read-data", f.Check.ReadData, false)
		s.str("check.read_data_subset", "read-data-subset", f.Check.ReadDataSubset)
	}
	switch command {
	case "backup", "forget", "prune", "check", "copy": // as immich backup above
		s.str("metrics_file", "metrics-file", f.MetricsFile)
		s.str("log_file", "log-file", f.LogFile)
	}
	return s
}

func underscore(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}
