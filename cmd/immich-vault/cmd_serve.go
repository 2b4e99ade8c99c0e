package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/immich-vault/immich-vault/repo"
	"github.com/immich-vault/immich-vault/web"
)

func init() { register(newServeCmd) }

const serveHelp = `Serve a read-only web view of the repository's snapshots — a timeline, a
folder browser with downloads of a file or of a folder as tar or zip, for
Immich snapshots a gallery (thumbnails, filters by user, album, person and
date, asset pages, original downloads, changes between two snapshots) — and
the same snapshots over read-only WebDAV at /dav/ (Finder, Windows Explorer,
rclone), until interrupted. With --restore-root DIR, the gallery can also
restore what its filters choose (an album, a person, a user, a date range)
into a new folder below DIR; with --to-immich URL (and the API key in
IMMICH_API_KEY), upload it into that running Immich.

The server listens on 127.0.0.1:8470 by default and refuses an address that
is not loopback unless --allow-remote is given. Every page needs the
server's password, read from IMMICH_VAULT_SERVE_PASSWORD_FILE (or
--secret-file) or IMMICH_VAULT_SERVE_PASSWORD, never from the command line:
log in with it in a browser, or give it as the HTTP Basic password (any
user name) to WebDAV clients and scripts. It is not the repository password.

The server keeps the repository's local cache open while it runs: give it its
own --cache-dir, or other commands on this host use a temporary cache.

The gallery indexes each Immich snapshot's database dump once, on first
view, and caches thumbnails: both are kept unencrypted (file names, paths,
thumbnails of the library) under the cache directory, in <repository
ID>/serve (mode 0700; at most 8 indexes and 512 MiB of thumbnails). Delete
that directory to remove them.`

func newServeCmd() *cobra.Command {
	var (
		listen      string
		allowRemote bool
		secretFile  string
		tlsCert     string
		tlsKey      string
		restoreRoot string
		toImmich    string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Browse snapshots in a web browser and over WebDAV (read-only)",
		Long:  serveHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (tlsCert == "") != (tlsKey == "") {
				return errors.New("--tls-cert and --tls-key go together: give both or neither")
			}
			secret, err := serveSecret(secretFile)
			if err != nil {
				return err
			}
			immichKey, err := serveImmichKey(toImmich)
			if err != nil {
				return err
			}
			// Check the address before asking for the repository password:
			// a refused address costs nothing.
			if err := web.CheckAddr(listen, allowRemote); err != nil {
				return fmt.Errorf("%w\nThe server listens on loopback only unless you pass --allow-remote (then put it behind TLS: --tls-cert/--tls-key or a reverse proxy).", err)
			}
			return withRepo(func(cmd *cobra.Command, r *repo.Repository, args []string) error {
				return runServe(cmd.Context(), r, web.Options{
					Secret: secret, AllowRemote: allowRemote, TLS: tlsCert != "",
					Warn: func(msg string) { gopts.warnf("%s", msg) }, Version: version,
					CacheDir: serveCacheDir(r), RestoreRoot: restoreRoot,
					ImmichURL: toImmich, ImmichAPIKey: immichKey,
				}, listen, tlsCert, tlsKey)
			})(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", web.DefaultAddr, "listen on `host:port` (loopback only without --allow-remote; port 0 picks a free one)")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback listen address and any Host header (use TLS)")
	f.StringVar(&secretFile, "secret-file", os.Getenv("IMMICH_VAULT_SERVE_PASSWORD_FILE"), "read the server's password from `file` (env IMMICH_VAULT_SERVE_PASSWORD_FILE)")
	f.StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM)")
	f.StringVar(&tlsKey, "tls-key", "", "private key `file` (PEM) of --tls-cert")
	f.StringVar(&restoreRoot, "restore-root", "", "allow the gallery to restore albums, people, users and date ranges into folders below `directory` (default: restores from the web UI are refused)")
	f.StringVar(&toImmich, "to-immich", "", "allow the gallery to upload a selection into the running Immich at `URL` (API key from env IMMICH_API_KEY)")
	return cmd
}

// serveImmichKey returns the API key for --to-immich URL (from the
// environment, never from a request or argv).
func serveImmichKey(url string) (string, error) {
	if url == "" {
		return "", nil
	}
	key := os.Getenv("IMMICH_API_KEY")
	if key == "" {
		return "", errors.New("--to-immich needs an API key in env IMMICH_API_KEY (Immich: Account Settings > API Keys, with the asset.upload, album.create, album.read and albumAsset.create permissions)")
	}
	return key, nil
}

// serveSecret reads the server's password from the file or the
// environment; never from argv.
func serveSecret(file string) ([]byte, error) {
	var secret []byte
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read the server password file: %w", err)
		}
		secret = firstLine(b)
	default:
		secret = []byte(os.Getenv("IMMICH_VAULT_SERVE_PASSWORD"))
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("%w: serve needs a password for its pages: put one in a file and set IMMICH_VAULT_SERVE_PASSWORD_FILE (or --secret-file), or set IMMICH_VAULT_SERVE_PASSWORD", web.ErrNoSecret)
	}
	if len(secret) < web.MinSecretLength {
		return nil, fmt.Errorf("%w: the server password is %d characters; use at least %d", web.ErrNoSecret, len(secret), web.MinSecretLength)
	}
	return secret, nil
}

func runServe(ctx context.Context, r *repo.Repository, o web.Options, listen, tlsCert, tlsKey string) error {
	srv, err := web.New(ctx, r, o)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := web.Listen(listen, o.AllowRemote)
	if err != nil {
		return err
	}
	hs := srv.HTTPServer()
	scheme := "http"
	if tlsCert != "" {
		scheme = "https"
	}
	addr := ln.Addr().(*net.TCPAddr)
	url := fmt.Sprintf("%s://%s/", scheme, net.JoinHostPort(addr.IP.String(), fmt.Sprint(addr.Port)))
	if gopts.json {
		// One line, so a supervisor or test can read it before the server ends.
		b, _ := json.Marshal(map[string]string{"url": url, "webdav": url + "dav/"})
		fmt.Fprintf(gopts.stdout, "%s\n", b)
	} else {
		gopts.printf("serving %s (WebDAV: %sdav/); stop with Ctrl-C\n", url, url)
	}
	if o.AllowRemote && tlsCert == "" && !addr.IP.IsLoopback() {
		gopts.warnf("serving plain HTTP on %s: passwords and files cross the network unencrypted (use --tls-cert/--tls-key or a TLS reverse proxy)", addr)
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCert != "" {
			errc <- hs.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // downloads still running after the grace period
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	gopts.printf("stopped\n")
	return nil
}
