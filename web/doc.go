// Package web is the `immich-vault serve` server: a read-only web view of a
// repository's snapshots (timeline, folder browser, downloads of a file or a
// folder as a tar or zip stream) and the same snapshots over read-only
// WebDAV, behind one authentication.
//
// # Overview
//
// New builds a Server over an open repo.Repository; Server.Handler is the
// http.Handler and Serve runs it on a listener returned by Listen. Listen
// refuses any address that is not loopback unless Options.AllowRemote is
// set, so the server never opens a port to the network by accident.
//
// # Security
//
// Every route except /login and /static/ requires authentication: a session
// cookie (HttpOnly, SameSite=Strict) obtained by logging in with the
// server's secret, HTTP Basic (for WebDAV clients and scripts) or an
// "Authorization: Bearer" header. Secrets are compared in constant time
// (both sides hashed first) and failed attempts are rate limited per client
// address and globally. Every POST made with a session cookie must carry
// the session's CSRF token; Basic credentials, which browsers send
// ambiently, never authorise a POST. Snapshot paths are resolved by walking
// the snapshot's trees name by name: nothing is ever opened on the local
// file system, and "..", ".", empty and NUL-bearing components are refused
// before the walk. File contents are always served as attachments under a
// sandboxing Content-Security-Policy, so a hostile HTML file in a snapshot
// cannot script the server's origin.
//
// # Reading snapshots
//
// All repository access goes through store (store.go): the snapshot list
// (cached by ID, snapshots are immutable), path lookup, tree loading (an
// LRU of decoded trees), and file readers. It is the one place to switch to
// the engine's shared path lookup and pack-planned reader.
//
// # Caveats
//
// The server keeps the repository (and its local cache) open while it runs:
// give it its own --cache-dir, or other commands on the same host fall
// back to a temporary cache. Downloads hold a shared reader lock (released
// shortly after the last download ends), so a prune's deletion phase waits
// for them, as it waits for a restore.
package web
