// Package immich is the Immich-aware layer above the backup engine: it reads
// an Immich install's configuration (.env, docker-compose.yml), dumps and
// restores its PostgreSQL database (through `docker exec -i immich_postgres`
// or a direct libpq connection), quiesces the server, maps the paths the
// database stores (container paths) to host paths, and verifies that every
// file the database references exists and, optionally, still has the SHA-1
// the database records.
//
// The engine (package repo) never imports this package. Commands and
// database clients are run with exec; nothing here links a PostgreSQL driver,
// so the same code works through docker exec and against a direct server.
package immich
