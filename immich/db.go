package immich

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/immich-vault/immich-vault/internal/proc"
)

// DB runs PostgreSQL client programs against the Immich database, inside
// the postgres container (docker mode: `docker exec -i`, never a TTY) or
// locally (direct mode: libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD,
// PGPASSFILE, PGDATABASE... from the environment, never a password prompt).
// A DB is safe for concurrent use.
type DB struct {
	Cfg    DBConfig
	Docker string // docker binary ("" = "docker" on PATH)
	BinDir string // direct mode: directory of psql/pg_dump ("" = PATH)
}

// command builds the client command tool with connection options; db
// overrides the database name ("" = the configured one, "-" = none).
func (d *DB) command(ctx context.Context, tool, db string, args ...string) *exec.Cmd {
	var conn []string
	user := d.Cfg.User
	if db == "" {
		db = d.Cfg.Name
	}
	if user != "" {
		conn = append(conn, "--username="+user)
	}
	if db != "" && db != "-" {
		if tool == "pg_dumpall" {
			conn = append(conn, "--database="+db)
		} else {
			conn = append(conn, "--dbname="+db)
		}
	}
	if d.Cfg.Mode == "docker" {
		docker := d.Docker
		if docker == "" {
			docker = "docker"
		}
		argv := append([]string{"exec", "-i", d.Cfg.Container, tool}, conn...)
		return proc.Command(ctx, docker, append(argv, args...)...)
	}
	bin := tool
	if d.BinDir != "" {
		bin = filepath.Join(d.BinDir, tool)
	}
	return proc.Command(ctx, bin, append(append(conn, "--no-password"), args...)...)
}

// Script runs psql with the script on stdin (ON_ERROR_STOP, no psqlrc) in
// database db and returns stdout.
func (d *DB) Script(ctx context.Context, db, script string) ([]byte, error) {
	cmd := d.command(ctx, "psql", db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	var stderr proc.TailBuffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.Bytes(), proc.CmdError("psql", err, &stderr)
	}
	return out.Bytes(), nil
}

// Value runs a one-value query and returns it trimmed.
func (d *DB) Value(ctx context.Context, db, query string) (string, error) {
	out, err := d.Script(ctx, db, query)
	return strings.TrimSpace(string(out)), err
}

func (d *DB) start(cmd *exec.Cmd, what string) (*proc.Stream, error) {
	return proc.Start(cmd, what, nil)
}

// Dump starts `pg_dump --clean --if-exists` (plain SQL, uncompressed so it
// deduplicates) of the configured database.
func (d *DB) Dump(ctx context.Context) (*proc.Stream, error) {
	return d.start(d.command(ctx, "pg_dump", "", "--clean", "--if-exists"), "pg_dump")
}

// DumpGlobals starts `pg_dumpall --globals-only` (roles and tablespaces).
func (d *DB) DumpGlobals(ctx context.Context) (*proc.Stream, error) {
	return d.start(d.command(ctx, "pg_dumpall", "-", "--globals-only"), "pg_dumpall --globals-only")
}

// Load feeds an SQL dump into database db through the search_path fix and
// `psql --single-transaction -v ON_ERROR_STOP=1`: all or nothing.
func (d *DB) Load(ctx context.Context, db string, dump io.Reader, fix bool) error {
	cmd := d.command(ctx, "psql", db, "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1")
	if fix {
		dump = FixSearchPath(dump)
	}
	cmd.Stdin = dump
	var stderr proc.TailBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return proc.CmdError("psql restore (single transaction, rolled back)", err, &stderr)
	}
	return nil
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteLiteral quotes a PostgreSQL string literal.
func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// DatabaseState reports whether database name exists and how many tables,
// views and sequences it holds outside the system schemas.
func (d *DB) DatabaseState(ctx context.Context, name string) (exists bool, relations int, err error) {
	v, err := d.Value(ctx, "postgres", "SELECT count(*) FROM pg_database WHERE datname = "+quoteLiteral(name))
	if err != nil {
		return false, 0, fmt.Errorf("check database %s: %w", name, err)
	}
	if v != "1" {
		return false, 0, nil
	}
	v, err = d.Value(ctx, name, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r','p','v','m','S','f')`)
	if err != nil {
		return true, 0, fmt.Errorf("inspect database %s: %w", name, err)
	}
	_, err = fmt.Sscan(v, &relations)
	return true, relations, err
}

// RecreateDatabase drops database name (disconnecting its sessions) when
// drop is set, and creates it when missing.
func (d *DB) RecreateDatabase(ctx context.Context, name string, drop bool) error {
	var sql string
	if drop {
		sql = "DROP DATABASE IF EXISTS " + quoteIdent(name) + " WITH (FORCE);\n"
	}
	sql += "CREATE DATABASE " + quoteIdent(name) + ";\n"
	_, err := d.Script(ctx, "postgres", sql)
	return err
}
